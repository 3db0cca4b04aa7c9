//! The return leg: how a browser's return from OFAuth becomes a binding. The
//! callback function serves its two routes.
//!
//! 1. `GET /link/callback` ([`callback`]): OFAuth sends the browser back with
//!    parameters anyone can forge ([`callback_query`] reads them). The callback reads the attempt and the
//!    connection's record, asks OFAuth whether the connection is live, whose
//!    account it is and which attempt made it ([`provenance`]), stores what it
//!    verified on the attempt (`returned`) and sends the browser to the app's
//!    return page with a one-time code. Nothing is bound yet.
//! 2. `POST /link/complete` ([`completion`]): the signed-in user who started the
//!    attempt sends that code (redirect flow), or the attempt and the connection
//!    the iframe reported (popup flow). The connection becomes theirs once OFAuth
//!    attests this attempt made it ([`provenance::Provenance::finish`]); until
//!    then it waits as `verifying`, and a signed webhook completes it.
//!
//! Every refusal on the way is a [`refusal::Refusal`] with a stable code: a
//! redirect to the app's error page from the callback, a JSON error from the
//! completion.

pub mod callback;
pub mod callback_query;
pub mod completion;
pub mod provenance;
pub mod refusal;
mod service;

use lambda_http::{Body, Request, RequestExt, Response};

use crate::routes;

pub use service::ReturnLeg;

/// Routes a request of the return leg (the tests' and the tools' single entry):
/// `POST /link/complete` to the completion, anything else to the callback.
pub async fn handle(req: Request, svc: &ReturnLeg) -> Response<Body> {
    if req.raw_http_path() == routes::COMPLETE.1 {
        complete(req, svc).await
    } else {
        callback(req, svc).await
    }
}

/// `GET /link/callback` (the callback function).
pub async fn callback(req: Request, svc: &ReturnLeg) -> Response<Body> {
    callback::handle(req, svc).await
}

/// `POST /link/complete` (the complete function).
pub async fn complete(req: Request, svc: &ReturnLeg) -> Response<Body> {
    completion::handle(req, svc).await
}
