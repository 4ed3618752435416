//! [`Plan`]: the steps of one [`Op`] on one printer, and the typed continuation that turns
//! their outputs back into the operation's [`Output`].
//!
//! Each operation's planner in [`super::ops`] returns a `Planned`: its steps and a `Finish`
//! that reads their outputs in the order the steps were planned. An adapter only sees the
//! steps; it runs them and hands the outputs to [`Plan::finish`].

use crate::UsageError;

use super::ops::{self, Finish, Planned};
use super::step::{check_body, Outputs, Step, StepOutput};
use super::{ClientError, Op, Output, Target};

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
