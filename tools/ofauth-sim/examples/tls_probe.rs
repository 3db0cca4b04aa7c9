#[tokio::main(flavor = "current_thread")]
async fn main() {
    let ca = ofauth_sim::tls::TestCa::generate().unwrap();
    ca.write_ca(std::path::Path::new("/tmp/probe-ca.pem"))
        .unwrap();
    let sim = ofauth_sim::Simulator::start(
        tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        ofauth_sim::SimConfig::default(),
    )
    .await
    .unwrap();
    let addr = ofauth_sim::tls::terminate(&ca, sim.addr()).await.unwrap();
    println!("{addr}");
    tokio::time::sleep(std::time::Duration::from_secs(600)).await;
}
