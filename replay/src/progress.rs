//! Progress bars for long replays, drawn on stderr (never stdout, which
//! carries the JSON). indicatif draws nothing when stderr is not a terminal,
//! so scripts and tests see only the result.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar of `total` events on stderr, with the rate in events/s.
pub fn events_bar(total: u64, message: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(
            "{msg} [{elapsed_precise}] {wide_bar} {human_pos}/{human_len} events ({per_sec}, eta {eta})",
        )
        .expect("the template is valid"),
    );
    bar.set_message(message.to_string());
    bar
}

/// A bar of `total` rows on stderr (Parquet export), with the rate.
pub fn rows_bar(total: u64, message: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(
            "{msg} [{elapsed_precise}] {wide_bar} {human_pos}/{human_len} rows ({per_sec}, eta {eta})",
        )
        .expect("the template is valid"),
    );
    bar.set_message(message.to_string());
    bar
}

/// A bar that draws nothing (library callers that want no output).
pub fn hidden() -> ProgressBar {
    ProgressBar::hidden()
}
