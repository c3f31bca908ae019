//! The one error of this crate: which setting is wrong, and why.

use core::fmt;

/// A rejected setting: `key` is the playground's query key (the CLI flag is
/// [`SettingError::flag`]), `message` the reason, written to read after either.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettingError {
    /// The setting's query key, e.g. `steps` or `flow_hidden`.
    pub key: &'static str,
    /// Why it is rejected.
    pub message: String,
}

impl SettingError {
    /// An error about `key`.
    pub fn new(key: &'static str, message: impl Into<String>) -> Self {
        SettingError {
            key,
            message: message.into(),
        }
    }

    /// The CLI flag of the setting: `--` and the key with dashes (`--flow-hidden`).
    pub fn flag(&self) -> String {
        format!("--{}", self.key.replace('_', "-"))
    }
}

impl fmt::Display for SettingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

impl std::error::Error for SettingError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_spells_the_key_with_dashes() {
        let e = SettingError::new("flow_hidden", "at most 4096");
        assert_eq!(e.flag(), "--flow-hidden");
        assert_eq!(e.to_string(), "flow_hidden: at most 4096");
    }
}
