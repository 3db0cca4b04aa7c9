//! The publisher as a Lambda function: the table's stream (a DynamoDB event,
//! [`super::publisher::handle`]), or an operator's replay (`{"replay": …}`,
//! [`super::replay::replay`]).

use aws_lambda_events::event::dynamodb::Event;

use super::publisher::{handle, PublisherService};
use super::replay::replay;
use crate::telemetry;

/// Runs until the runtime stops it.
pub async fn serve(svc: &PublisherService) -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<serde_json::Value>| async move {
            let out = match event.payload.get("replay") {
                Some(request) => {
                    let request = serde_json::from_value(request.clone())?;
                    serde_json::to_value(replay(&request, svc).await?)?
                }
                None => {
                    let batch: Event = serde_json::from_value(event.payload)?;
                    serde_json::to_value(handle(batch, svc).await)?
                }
            };
            telemetry::flush();
            Ok::<_, lambda_runtime::Error>(out)
        },
    ))
    .await
}
