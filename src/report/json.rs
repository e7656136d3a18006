//! The `perfguard.comparison.v1` document: the model itself, pretty-printed with
//! sorted keys so it is stable to diff and to parse.

use std::io::{self, Write};

use super::Reporter;
use crate::comparison::Comparison;

/// Writes [`Comparison::to_json`].
pub struct JsonReporter;

impl Reporter for JsonReporter {
    fn render(&self, comparison: &Comparison, out: &mut dyn Write) -> io::Result<()> {
        out.write_all(comparison.to_json().as_bytes())
    }
}
