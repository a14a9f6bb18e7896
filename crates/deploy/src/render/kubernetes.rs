//! The Kubernetes target.

use super::{File, RenderError};
use crate::spec::Spec;

pub fn files(_spec: &Spec) -> Result<Vec<File>, RenderError> {
    Err(RenderError::Spec("not yet".into()))
}
