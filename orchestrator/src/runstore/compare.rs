//! How one task changed between two runs, in words: the one rule that
//! `orchestra runs compare` and the dashboard's comparison both show.

/// The change from `a` to `b`, each `(state, wall_ms)` when the task is in
/// that run: `failed -> succeeded` when the state differs, else the time's
/// change in percent (`+35%`), `added` or `removed` when the task is in one
/// run only, empty when there is nothing to say.
pub fn change(a: Option<(&str, u64)>, b: Option<(&str, u64)>) -> String {
    match (a, b) {
        (Some((sa, _)), Some((sb, _))) if sa != sb => format!("{sa} -> {sb}"),
        (Some((_, ma)), Some((_, mb))) if ma > 0 => {
            format!("{:+.0}%", (mb as f64 - ma as f64) * 100.0 / ma as f64)
        }
        (None, Some(_)) => "added".into(),
        (Some(_), None) => "removed".into(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::change;

    #[test]
    fn changes_in_words() {
        assert_eq!(change(Some(("failed", 10)), Some(("succeeded", 5))), "failed -> succeeded");
        assert_eq!(change(Some(("succeeded", 200)), Some(("succeeded", 270))), "+35%");
        assert_eq!(change(Some(("succeeded", 200)), Some(("succeeded", 100))), "-50%");
        assert_eq!(change(None, Some(("succeeded", 1))), "added");
        assert_eq!(change(Some(("succeeded", 1)), None), "removed");
        assert_eq!(change(Some(("skipped", 0)), Some(("skipped", 0))), "");
    }
}
