//! Policy presets shipped in `policies/` and built into the binary, so
//! `--policy strict` works from any directory.

const PRESETS: &[(&str, &str)] = &[
    ("default", include_str!("../default.yaml")),
    ("strict", include_str!("../strict.yaml")),
    ("build-offline", include_str!("../build-offline.yaml")),
    ("container", include_str!("../container.yaml")),
];

/// The YAML text of a preset.
pub fn get(name: &str) -> Option<&'static str> {
    PRESETS.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// The preset names, in a stable order.
pub fn names() -> impl Iterator<Item = &'static str> {
    PRESETS.iter().map(|(n, _)| *n)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_preset_parses() {
        for name in super::names() {
            let text = super::get(name).unwrap();
            crate::parse_policy(text, name).unwrap_or_else(|e| panic!("{e}"));
        }
    }
}
