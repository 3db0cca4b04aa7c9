//! `link-dev`: local development helpers.
//!
//! - `link-dev create-table`: creates `TABLE_NAME` at `DYNAMODB_ENDPOINT` (DynamoDB
//!   Local) as template.yaml defines it; does nothing when it exists.
//! - `link-dev seed-events [events-dir]`: adds what events/expected.json says each
//!   event needs, in DynamoDB Local and in the simulator at `OFAUTH_BASE_URL`.
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
                store.create_table().await?;
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
