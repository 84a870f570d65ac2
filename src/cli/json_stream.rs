//! Where a command's JSON events go: standard output (`-json`), a file (`-json-into FILE`,
//! while the terminal gets the usual text), both, or nowhere.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Mutex;

pub struct JsonStream {
    stdout: bool,
    file: Option<Mutex<BufWriter<File>>>,
}

impl JsonStream {
    /// The stream of `-json` (`stdout`) and `-json-into` (`into`); the file is made anew.
    pub fn open(stdout: bool, into: Option<&Path>) -> Result<JsonStream, String> {
        let file = match into {
            None => None,
            Some(path) => {
                let file = File::create(path)
                    .map_err(|e| format!("-json-into {}: {e}", path.display()))?;
                Some(Mutex::new(BufWriter::new(file)))
            }
        };
        Ok(JsonStream { stdout, file })
    }

    /// No JSON anywhere.
    pub fn off() -> JsonStream {
        JsonStream {
            stdout: false,
            file: None,
        }
    }

    /// Standard output carries JSON: the human text is left out.
    pub fn on_stdout(&self) -> bool {
        self.stdout
    }

    pub fn is_on(&self) -> bool {
        self.stdout || self.file.is_some()
    }

    /// One event. A CI job reads the file while hive runs, so each line is flushed.
    pub fn line(&self, line: &impl std::fmt::Display) {
        if self.stdout {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
        if let Some(file) = &self.file {
            let mut file = file.lock().unwrap_or_else(|e| e.into_inner());
            let _ = writeln!(file, "{line}");
            let _ = file.flush();
        }
    }
}
