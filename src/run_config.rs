//! The serialisable description of a continuous training run, with every default resolved:
//! [`RunConfig`] of the settings layer (`amortise-settings`), where its defaults and rules
//! live. It is written into checkpoints and summaries so a run can be rebuilt and
//! reproduced exactly (`amortise sample`, `amortise train --seed`).

pub use amortise_settings::defaults::METHODS;
pub use amortise_settings::{Limits, RunConfig};
