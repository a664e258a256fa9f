//! The API changelog: a report's findings grouped by endpoint.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Finding, Report, Severity};

/// The changes of one endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointChanges {
    /// `METHOD /path`, or empty for document-wide changes.
    pub endpoint: String,
    /// The highest severity among its changes.
    pub severity: Severity,
    /// Its findings, in report order.
    pub changes: Vec<Finding>,
}

/// Changes grouped by endpoint, endpoints in order, document-wide changes last.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changelog {
    /// One entry per endpoint with changes.
    pub endpoints: Vec<EndpointChanges>,
}

/// Groups a report by endpoint.
#[must_use]
pub fn changelog(report: &Report) -> Changelog {
    let mut by: BTreeMap<(bool, String), Vec<Finding>> = BTreeMap::new();
    for f in &report.findings {
        by.entry((f.endpoint.is_empty(), f.endpoint.clone()))
            .or_default()
            .push(f.clone());
    }
    Changelog {
        endpoints: by
            .into_iter()
            .map(|((_, endpoint), changes)| EndpointChanges {
                severity: changes
                    .iter()
                    .map(|f| f.severity)
                    .max()
                    .unwrap_or(Severity::Info),
                endpoint,
                changes,
            })
            .collect(),
    }
}
