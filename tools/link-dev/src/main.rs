//! `link-dev`: the project's development tasks (an xtask). `link-dev --help` lists
//! them; the scripts under `scripts/` only put them in order.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use link_dev::{checks, invoke, Error, LocalTable};

#[derive(Parser)]
#[command(
    name = "link-dev",
    about = "Development tasks for the OFAuth Link backend"
)]
struct Cli {
    #[command(subcommand)]
    command: Task,
}

/// Where the local table is (`make dev` exports both).
#[derive(clap::Args)]
struct Table {
    #[arg(long, env = "DYNAMODB_ENDPOINT")]
    dynamodb_endpoint: String,
    #[arg(long, env = "TABLE_NAME")]
    table_name: String,
}

impl Table {
    fn open(&self) -> LocalTable {
        LocalTable::new(&self.dynamodb_endpoint, &self.table_name)
    }
}

#[derive(Subcommand)]
enum Task {
    /// Runs DynamoDB Local (in memory) in the foreground on a port.
    Dynamodb {
        #[arg(long)]
        port: u16,
    },
    /// Creates the table as template.yaml defines it (nothing when it exists).
    CreateTable {
        #[command(flatten)]
        table: Table,
    },
    /// Writes invoke/ (each event and expected.json) from the catalogue.
    MakeInvoke {
        #[arg(default_value = "invoke")]
        dir: PathBuf,
    },
    /// Adds what every event in invoke/ refers to, in DynamoDB Local and the simulator.
    SeedInvoke {
        #[arg(default_value = "invoke")]
        dir: PathBuf,
        #[command(flatten)]
        table: Table,
        #[arg(long, env = "OFAUTH_BASE_URL")]
        sim_url: String,
    },
    /// Sends every event in invoke/ through `cargo lambda invoke` to a running
    /// `cargo lambda watch` and checks each answer against expected.json.
    InvokeAll {
        #[arg(default_value = "invoke")]
        dir: PathBuf,
        #[command(flatten)]
        table: Table,
        #[arg(long, env = "OFAUTH_BASE_URL")]
        sim_url: String,
        #[arg(long, env = "WATCH_PORT", default_value_t = 9000)]
        watch_port: u16,
        /// The demo app's URL (the events are written for http://localhost:8080).
        #[arg(long, env = "APP_URL", default_value = invoke::APP)]
        app: String,
        #[arg(long, env = "OFAUTH_WEBHOOK_SECRET", hide_env_values = true)]
        webhook_secret: String,
    },
    /// Prints an event file with fresh webhook signature headers for its body.
    SignInvoke {
        file: PathBuf,
        #[arg(value_parser = ["ofauth", "svix"])]
        scheme: String,
        #[arg(long, env = "OFAUTH_WEBHOOK_SECRET", hide_env_values = true)]
        webhook_secret: String,
    },
    /// Checks that each file is an arm64 ELF executable within the size budget.
    CheckBootstrap {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[arg(long, default_value_t = 6.0)]
        max_mib: f64,
    },
    /// Serves the demo frontend, calling the API at `DEMO_API_BASE` (and
    /// listing the platform's events from `DEMO_EVENTS_URL`).
    ServeDemo {
        #[arg(default_value = "demo")]
        dir: PathBuf,
        #[arg(long, env = "DEMO_PORT")]
        port: u16,
        #[arg(long, env = "DEMO_API_BASE")]
        api_base: String,
        /// The EventBridge stand-in (`link-dev stream`).
        #[arg(long, env = "DEMO_EVENTS_URL")]
        events_url: Option<String>,
    },
    /// The publisher's trigger, locally: serves the EventBridge stand-in, reads
    /// the table's stream and invokes the publisher under `cargo lambda watch`
    /// as the template's event source mapping does. Runs until stopped.
    Stream {
        #[command(flatten)]
        table: Table,
        #[arg(long, env = "WATCH_PORT", default_value_t = 9000)]
        watch_port: u16,
        #[arg(long, env = "EVENTS_PORT", default_value_t = 8788)]
        events_port: u16,
    },
    /// Read-only checks of a deployed stack (or `make dev`): CORS, no JWT,
    /// a forged callback, a bad webhook signature. Needs no key; writes nothing.
    Smoke {
        /// The API's base URL (the stack's ApiUrl output).
        #[arg(long)]
        url: reqwest::Url,
        /// The app's origin, one of AllowedOrigins (checked when given).
        #[arg(long)]
        origin: Option<String>,
        /// The webhook's URL with its secret segment (checked when given).
        #[arg(long)]
        webhook_url: Option<reqwest::Url>,
    },
    /// Prints what DynamoDB holds for a connection, as JSON (for the browser test).
    ShowConnection {
        id: String,
        #[command(flatten)]
        table: Table,
    },
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    match Cli::parse().command {
        Task::Dynamodb { port } => {
            use std::os::unix::process::CommandExt;
            // Replaces this process, so stopping it stops DynamoDB Local.
            return Err(local_dynamodb::command(port)?.exec().into());
        }
        Task::CreateTable { table } => {
            let t = table.open();
            let created = t.create().await?;
            println!(
                "{} table {}",
                if created { "created" } else { "found" },
                t.name
            );
        }
        Task::MakeInvoke { dir } => {
            let n = invoke::write(&dir)?;
            println!("wrote {n} events and expected.json to {}", dir.display());
        }
        Task::SeedInvoke {
            dir,
            table,
            sim_url,
        } => {
            let t = table.open();
            for (name, exp) in link_dev::expectations(&dir)? {
                t.seed(&sim_url, &exp.seed).await?;
                println!("seeded {name}");
            }
        }
        Task::InvokeAll {
            dir,
            table,
            sim_url,
            watch_port,
            app,
            webhook_secret,
        } => {
            let t = table.open();
            let stack = checks::Stack {
                table: &t,
                sim_url: &sim_url,
                watch_port,
                app: &app,
                webhook_secret: &webhook_secret,
                scratch: &link_dev::root().join(".local/events"),
            };
            let (passed, failures) = checks::invoke_all(&dir, &stack).await?;
            println!("{passed} passed, {} failed", failures.len());
            if !failures.is_empty() {
                return Err(failures.join("\n").into());
            }
        }
        Task::SignInvoke {
            file,
            scheme,
            webhook_secret,
        } => {
            let raw = std::fs::read_to_string(file)?;
            println!(
                "{}",
                link_dev::prepare_event(&raw, Some(&scheme), &webhook_secret)?
            );
        }
        Task::CheckBootstrap { files, max_mib } => {
            for f in files {
                let mib = checks::check_bootstrap(&f, max_mib)?;
                println!("    {}: arm64 ELF, {mib:.2} MiB", f.display());
            }
        }
        Task::ServeDemo {
            dir,
            port,
            api_base,
            events_url,
        } => link_dev::demo::serve(dir, port, api_base, events_url).await?,
        Task::Stream {
            table,
            watch_port,
            events_port,
        } => {
            link_dev::stream::run(link_dev::stream::Options {
                dynamodb_endpoint: table.dynamodb_endpoint,
                table: table.table_name,
                invoke_url: link_dev::stream::invoke_url(watch_port, "publisher"),
                events_port,
            })
            .await?
        }
        Task::Smoke {
            url,
            origin,
            webhook_url,
        } => {
            let results =
                link_dev::smoke::run(&url, origin.as_deref(), webhook_url.as_ref()).await?;
            let failed = results.iter().filter(|(_, e)| e.is_some()).count();
            for (name, problem) in &results {
                match problem {
                    None => println!("    ok    {name}"),
                    Some(p) => println!("    FAIL  {name}: {p}"),
                }
            }
            println!("{} passed, {failed} failed", results.len() - failed);
            if failed > 0 {
                return Err(format!("{failed} smoke check(s) failed against {url}").into());
            }
        }
        Task::ShowConnection { id, table } => {
            let id = link_shared::ids::ConnectionId::parse(&id).ok_or("not a connection id")?;
            let t = table.open();
            let json = match t.store.get_connection(&id).await? {
                Some(r) => serde_json::json!({
                    "id": r.id.as_str(), "userId": r.user_id, "status": r.status.as_str(),
                    "username": r.account.username,
                    "connectionRecords": match &r.user_id {
                        Some(u) => t.connection_count(u).await?,
                        None => 1,
                    },
                }),
                None => serde_json::json!({ "id": null, "connectionRecords": 0 }),
            };
            println!("{json}");
        }
    }
    Ok(())
}
