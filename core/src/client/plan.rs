//! [`Plan`]: the steps of one [`Op`] on one printer, and the typed continuation that turns
//! their outputs back into the operation's [`Output`].
//!
//! Each operation's planner in [`super::ops`] returns a [`Planned`]: its steps and a
//! [`Finish`] that reads their outputs in the order the steps were planned. An adapter only
//! sees the steps; it runs them and hands the outputs to [`Plan::finish`].

use crate::http::{ApiReply, Body, MachineInfo, Request};
use crate::{Command, Reply, UsageError};

use super::ops::{self, Finish};
use super::{ClientError, Op, Output, Target};

/// One step of a [`Plan`].
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

/// The steps of one operation on one printer.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    op: Op,
    steps: Vec<Step>,
    finish: Finish,
}

impl Plan {
    /// What `op` takes on `target`, or why it cannot run there.
    pub fn new(op: Op, target: &Target) -> Result<Self, ClientError> {
        let Planned { steps, finish } = ops::plan(&op, target)?;
        Ok(Self { op, steps, finish })
    }

    /// The operation.
    pub fn op(&self) -> &Op {
        &self.op
    }

    /// The steps, to run in order.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// Turn the step results (one per step, in order) into the operation's output.
    pub fn finish(self, outputs: Vec<StepOutput>) -> Result<Output, ClientError> {
        if outputs.len() != self.steps.len() {
            return Err(ClientError::Usage(UsageError::OutOfRange {
                what: "step output count",
            }));
        }
        // Every HTTP envelope must say success; TCP errors arrive as `Err` before this point.
        let outputs = outputs
            .into_iter()
            .map(|o| match o {
                StepOutput::Http(b) => check_body(b).map(StepOutput::Http),
                tcp => Ok(tcp),
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.finish.finish(&mut Outputs(outputs.into_iter()))
    }
}

/// What an operation's planner returns: the steps, and how their outputs become the output.
#[derive(Debug)]
pub(super) struct Planned {
    pub(super) steps: Vec<Step>,
    pub(super) finish: Finish,
}

impl Planned {
    /// Steps whose outputs `finish` reads.
    pub(super) fn new(steps: Vec<Step>, finish: Finish) -> Self {
        Self { steps, finish }
    }

    /// Steps that only have to succeed ([`Output::Done`]).
    pub(super) fn done(steps: Vec<Step>) -> Self {
        Self::new(steps, Finish::Done)
    }
}

/// The outputs of a plan's steps, read front to back by its [`Finish`]: the first read takes
/// the first step's output, and so on.
#[derive(Debug)]
pub(super) struct Outputs(std::vec::IntoIter<StepOutput>);

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
