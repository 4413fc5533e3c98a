//! Python source trees as the offline planner sees them: whether a package
//! carries its own tests (`pkg/tests/test_*.py`).
//!
//! Guarantees: reads directory listings only (no file contents, nothing
//! written), at most [`MAX_TEST_ENTRIES`] entries of each tests directory.

use std::path::Path;

/// How many entries of a package's tests directory are looked at.
const MAX_TEST_ENTRIES: usize = 10_000;

/// Whether one of the package directories `packages` (relative to `root`)
/// holds a `tests/` or `test/` directory with a `test_*.py` or `*_test.py`
/// file directly in it (simplejson's `simplejson/tests/`, psutil's).
pub fn package_tests(root: &Path, packages: &[String]) -> bool {
    packages.iter().any(|pkg| {
        ["tests", "test"].iter().any(|t| {
            let Ok(rd) = std::fs::read_dir(root.join(pkg).join(t)) else { return false };
            rd.flatten().take(MAX_TEST_ENTRIES).any(|e| {
                let name = e.file_name();
                let name = name.to_string_lossy();
                name.ends_with(".py") && (name.starts_with("test_") || name.ends_with("_test.py"))
            })
        })
    })
}
