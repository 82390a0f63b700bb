//! One run = one artifact taken through compile → record deployment → report result, with the
//! outcome of each step. Runs are kept in memory (the service has no volume); the deployment
//! records they create persist in contract-deployment.

use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// Runs kept; the oldest finished ones are dropped beyond this.
pub const KEEP_RUNS: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Artifact stored and deployment recorded as pending; waiting for the chain's result.
    AwaitingResult,
    Deployed,
    Failed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Compile,
    RecordDeployment,
    ReportResult,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepOutcome {
    pub step: Step,
    pub ok: bool,
    pub detail: Value,
    pub at: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Run {
    pub id: String,
    pub contract: String,
    pub chain: String,
    pub status: RunStatus,
    pub artifact_id: Option<String>,
    pub deployment_id: Option<String>,
    pub error: Option<String>,
    pub steps: Vec<StepOutcome>,
    pub created_at: u64,
}

impl Run {
    pub fn new(id: String, contract: &str, chain: &str, now: u64) -> Self {
        Run {
            id,
            contract: contract.into(),
            chain: chain.into(),
            status: RunStatus::AwaitingResult,
            artifact_id: None,
            deployment_id: None,
            error: None,
            steps: Vec::new(),
            created_at: now,
        }
    }

    pub fn succeeded(&mut self, step: Step, detail: Value, now: u64) {
        self.steps.push(StepOutcome {
            step,
            ok: true,
            detail,
            at: now,
        });
    }

    /// Marks the run failed at `step`; later steps are not attempted.
    pub fn failed(&mut self, step: Step, error: String, now: u64) {
        self.steps.push(StepOutcome {
            step,
            ok: false,
            detail: Value::String(error.clone()),
            at: now,
        });
        self.status = RunStatus::Failed;
        self.error = Some(error);
    }
}

#[derive(Debug, Default)]
pub struct Runs {
    runs: BTreeMap<String, Run>,
}

impl Runs {
    pub fn insert(&mut self, run: Run) {
        self.runs.insert(run.id.clone(), run);
        if self.runs.len() > KEEP_RUNS {
            let oldest_finished = self
                .runs
                .values()
                .filter(|r| r.status != RunStatus::AwaitingResult)
                .min_by_key(|r| (r.created_at, r.id.clone()))
                .map(|r| r.id.clone());
            if let Some(id) = oldest_finished {
                self.runs.remove(&id);
            }
        }
    }

    pub fn get(&self, id: &str) -> Option<&Run> {
        self.runs.get(id)
    }

    pub fn all(&self) -> Vec<Run> {
        let mut list: Vec<Run> = self.runs.values().cloned().collect();
        list.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        list
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_step_fails_the_run_with_its_error() {
        let mut run = Run::new("r".into(), "Token", "c", 1);
        run.succeeded(Step::Compile, Value::Null, 1);
        run.failed(
            Step::RecordDeployment,
            "contract-deployment: HTTP 500".into(),
            2,
        );
        assert_eq!(run.status, RunStatus::Failed);
        assert_eq!(run.error.as_deref(), Some("contract-deployment: HTTP 500"));
        assert_eq!(
            run.steps.iter().map(|s| s.ok).collect::<Vec<_>>(),
            [true, false]
        );
    }

    #[test]
    fn only_finished_runs_are_dropped_when_full() {
        let mut runs = Runs::default();
        let waiting = Run::new("waiting".into(), "T", "c", 0);
        runs.insert(waiting);
        for i in 0..KEEP_RUNS {
            let mut r = Run::new(format!("r{i:04}"), "T", "c", 1 + i as u64);
            r.failed(Step::Compile, "x".into(), 1);
            runs.insert(r);
        }
        assert_eq!(runs.all().len(), KEEP_RUNS);
        assert!(runs.get("waiting").is_some());
        assert!(runs.get("r0000").is_none());
    }
}
