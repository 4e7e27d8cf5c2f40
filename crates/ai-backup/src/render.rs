//! Turns library events into output: bars on a terminal, plain lines otherwise, NDJSON with
//! --json.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;

use ai_backup_core::{Event, Reporter};
use indicatif::{ProgressBar, ProgressStyle};

pub enum Output {
    Json,
    Bars(Mutex<Option<ProgressBar>>),
    Lines,
}

impl Output {
    pub fn new(json: bool) -> Self {
        if json {
            Output::Json
        } else if std::io::stderr().is_terminal() {
            Output::Bars(Mutex::new(None))
        } else {
            Output::Lines
        }
    }

    /// Write one JSON line on stdout.
    pub fn json_line(value: &serde_json::Value) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{value}");
        let _ = out.flush();
    }

    pub fn finish(&self) {
        if let Output::Bars(bar) = self {
            if let Some(b) = bar.lock().unwrap().take() {
                b.finish_and_clear();
            }
        }
    }
}

impl Reporter for Output {
    fn report(&self, event: Event) {
        match self {
            Output::Json => Output::json_line(&serde_json::to_value(&event).unwrap_or_default()),
            Output::Lines => match &event {
                Event::Phase { phase, .. } => eprintln!("== {phase}"),
                Event::Info { message } => eprintln!("{message}"),
                Event::Warning { message } => eprintln!("warning: {message}"),
                Event::Progress { .. } => {}
            },
            Output::Bars(slot) => {
                let mut slot = slot.lock().unwrap();
                match event {
                    Event::Phase { phase, total_bytes } => {
                        if let Some(b) = slot.take() {
                            b.finish_and_clear();
                        }
                        let bar = match total_bytes {
                            Some(t) if t > 0 => ProgressBar::new(t).with_style(
                                ProgressStyle::with_template("{msg:>10} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} {eta}")
                                    .unwrap()
                                    .progress_chars("=> "),
                            ),
                            _ => ProgressBar::new_spinner().with_style(
                                ProgressStyle::with_template("{msg:>10} {spinner} {bytes} {binary_bytes_per_sec}").unwrap(),
                            ),
                        };
                        bar.set_message(phase);
                        bar.enable_steady_tick(std::time::Duration::from_millis(200));
                        *slot = Some(bar);
                    }
                    Event::Progress { bytes, .. } => {
                        if let Some(b) = slot.as_ref() {
                            if b.length().is_some_and(|l| bytes > l) {
                                b.set_length(bytes);
                            }
                            b.set_position(bytes);
                        }
                    }
                    Event::Info { message } => match slot.as_ref() {
                        Some(b) => b.println(message),
                        None => eprintln!("{message}"),
                    },
                    Event::Warning { message } => match slot.as_ref() {
                        Some(b) => b.println(format!("warning: {message}")),
                        None => eprintln!("warning: {message}"),
                    },
                }
            }
        }
    }
}
