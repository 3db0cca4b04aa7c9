//! `link-dev`: local development helpers.
//!
//! - `link-dev create-table`: creates `TABLE_NAME` at `DYNAMODB_ENDPOINT` (DynamoDB
//!   Local) as template.yaml defines it; does nothing when it exists.
//! - `link-dev seed-events [events-dir]`: adds what events/expected.json says each
//!   event needs, in DynamoDB Local and in the simulator at `OFAUTH_BASE_URL`.
//! - `link-dev serve-demo [dir]`: serves the demo frontend on `DEMO_PORT`, calling
//!   the API at `DEMO_API_BASE`; the app's `/link/*` pages are the same page.
//! - `link-dev show-connection <id>`: what DynamoDB holds for a connection (JSON).
//! - `link-dev sign-event <file> <ofauth|svix>`: prints the event with fresh
//!   webhook signature headers (`OFAUTH_WEBHOOK_SECRET`).

use std::path::PathBuf;
use std::time::Duration;

use link_shared::store::Store;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), link_dev::Error> {
    let var = |k: &str| std::env::var(k).map_err(|_| format!("{k} is required"));
    let mut args = std::env::args().skip(1);
    let command = args.next().unwrap_or_default();
    let store = || -> Result<Store, link_dev::Error> {
        Ok(Store::new(
            local_dynamodb::client(&var("DYNAMODB_ENDPOINT")?, Duration::from_secs(5)),
            var("TABLE_NAME")?,
        ))
    };
    match command.as_str() {
        "create-table" => {
            let store = store()?;
            let exists = store
                .client()
                .describe_table()
                .table_name(store.table())
                .send()
                .await
                .is_ok();
            if exists {
                println!("table {} exists", store.table());
            } else {
                local_dynamodb::create_table(store.client(), store.table()).await?;
                println!("created table {}", store.table());
            }
        }
        "seed-events" => {
            let store = store()?;
            let dir = PathBuf::from(args.next().unwrap_or_else(|| "events".into()));
            let sim = var("OFAUTH_BASE_URL")?;
            for (name, exp) in link_dev::expectations(&dir)? {
                link_dev::seed(&store, &sim, &exp.seed).await?;
                println!("seeded {name}");
            }
        }
        "show-connection" => {
            // For the browser test: what DynamoDB holds for one connection, as JSON.
            let id = args.next().ok_or("usage: link-dev show-connection <id>")?;
            let id = link_shared::ids::ConnectionId::parse(&id).ok_or("not a connection id")?;
            let store = store()?;
            let json = match store.get_connection(&id).await? {
                Some(r) => {
                    // How many connection records this user has: a duplicate shows here.
                    let count = store
                        .client()
                        .scan()
                        .table_name(store.table())
                        .filter_expression("entity = :c AND userId = :u")
                        .expression_attribute_values(
                            ":c",
                            aws_sdk_dynamodb::types::AttributeValue::S("connection".into()),
                        )
                        .expression_attribute_values(
                            ":u",
                            aws_sdk_dynamodb::types::AttributeValue::S(r.user_id.clone()),
                        )
                        .send()
                        .await?
                        .count;
                    serde_json::json!({
                        "id": r.id.as_str(), "userId": r.user_id, "status": r.status,
                        "username": r.account.username, "connectionRecords": count,
                    })
                }
                None => serde_json::json!({ "id": null, "connectionRecords": 0 }),
            };
            println!("{json}");
        }
        "serve-demo" => {
            let dir = PathBuf::from(args.next().unwrap_or_else(|| "demo".into()));
            let port: u16 = var("DEMO_PORT")?.parse()?;
            let api_base = var("DEMO_API_BASE")?;
            link_dev::demo::serve(dir, port, api_base).await?;
        }
        "sign-event" => {
            let file = args
                .next()
                .ok_or("usage: link-dev sign-event <file> <ofauth|svix>")?;
            let scheme = args.next();
            let secret = var("OFAUTH_WEBHOOK_SECRET")?;
            println!(
                "{}",
                link_dev::prepare_event(
                    &std::fs::read_to_string(file)?,
                    scheme.as_deref(),
                    &secret
                )?
            );
        }
        _ => return Err(
            "usage: link-dev create-table | seed-events [events-dir] | sign-event <file> <scheme>"
                .into(),
        ),
    }
    Ok(())
}
