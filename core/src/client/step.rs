//! A plan's [`Step`]s, their [`StepOutput`]s, and how a continuation reads them back
//! ([`Outputs`], front to back) with the envelope checks every HTTP reply passes.

use crate::http::{ApiReply, Body, MachineInfo, Request};
use crate::{Command, Reply};

use super::{ClientError, Output};

/// One step of a [`Plan`](crate::driver::Plan).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Step {
    /// An HTTP request on port 8898.
    Http(Request),
    /// A command on the TCP session (port 8899).
    Tcp(Command),
}

/// The result of a [`Step`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum StepOutput {
    /// The typed HTTP reply body.
    Http(Body),
    /// The typed TCP reply.
    Tcp(Reply),
}

/// The outputs of a plan's steps, read front to back by its [`Finish`]: the first read takes
/// the first step's output, and so on.
#[derive(Debug)]
pub(super) struct Outputs(pub(super) std::vec::IntoIter<StepOutput>);

impl Outputs {
    /// The next output when it is a TCP reply.
    pub(super) fn tcp(&mut self) -> Option<Reply> {
        match self.0.next()? {
            StepOutput::Tcp(r) => Some(r),
            StepOutput::Http(_) => None,
        }
    }

    /// The next output when it is an HTTP body.
    pub(super) fn http(&mut self) -> Option<Body> {
        match self.0.next()? {
            StepOutput::Http(b) => Some(b),
            StepOutput::Tcp(_) => None,
        }
    }

    /// The next output as a `/detail` payload.
    pub(super) fn detail(&mut self) -> Result<MachineInfo, ClientError> {
        match self.http() {
            Some(Body::Detail(d)) => payload(*d),
            _ => Err(mismatch()),
        }
    }

    /// The rest only had to succeed: HTTP bodies are bare envelopes (already checked), TCP
    /// replies acknowledgements.
    pub(super) fn done(&mut self) -> Result<Output, ClientError> {
        for o in self.0.by_ref() {
            if let StepOutput::Http(b) = o {
                if !matches!(b, Body::Envelope(_)) {
                    return Err(mismatch());
                }
            }
        }
        Ok(Output::Done)
    }
}

/// An HTTP body of another kind than its request asks for.
pub(super) fn mismatch() -> ClientError {
    ClientError::UnexpectedReply("a reply matching the request")
}

/// An HTTP body whose envelope said success (payload still inside).
pub(super) fn check_body(b: Body) -> Result<Body, ClientError> {
    fn env<T>(r: &ApiReply<T>) -> Result<(), ClientError> {
        r.envelope.check().map_err(ClientError::from)
    }
    match &b {
        Body::Detail(r) => env(r)?,
        Body::Product(r) => env(r)?,
        Body::GcodeList(r) => env(r)?,
        Body::GcodeThumb(r) => env(r)?,
        Body::Envelope(r) => env(r)?,
        Body::Image(Err(r)) => env(r)?,
        Body::Image(Ok(_)) => {}
    }
    Ok(b)
}

/// The payload of a checked reply.
pub(super) fn payload<T>(r: ApiReply<T>) -> Result<T, ClientError> {
    r.into_result().map_err(ClientError::from)
}
