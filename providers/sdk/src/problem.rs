//! Problems a provider finds with a configuration, each at the attribute it is about, so the
//! core can show it at that attribute's place in the file.

/// One step of the way to an attribute: an attribute or block by name, or which of several
/// blocks of one name (`network[1]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathStep {
    Name(String),
    Index(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where: `["dhcp", "range"]`, `["network", 1, "bridge"]`; empty for the whole block.
    pub path: Vec<PathStep>,
    pub message: String,
    pub help: Option<String>,
}

impl Problem {
    /// A problem with the attribute or block `name`.
    pub fn at(name: &str, message: impl Into<String>) -> Problem {
        Problem {
            path: vec![PathStep::Name(name.to_string())],
            message: message.into(),
            help: None,
        }
    }

    /// A problem with the block as a whole.
    pub fn whole(message: impl Into<String>) -> Problem {
        Problem {
            path: Vec::new(),
            message: message.into(),
            help: None,
        }
    }

    /// The same problem one level down: inside block `name` (the `index`th of its name, for
    /// repeated blocks).
    pub fn inside(mut self, name: &str, index: Option<usize>) -> Problem {
        let mut path = vec![PathStep::Name(name.to_string())];
        path.extend(index.map(PathStep::Index));
        path.append(&mut self.path);
        self.path = path;
        self
    }

    /// A deeper place: `then("range")` after `at("dhcp", ...)`.
    pub fn then(mut self, name: &str) -> Problem {
        self.path.push(PathStep::Name(name.to_string()));
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Problem {
        self.help = Some(help.into());
        self
    }

    /// The path as written: `dhcp.range`, `network[1].bridge`.
    pub fn path_text(&self) -> String {
        let mut out = String::new();
        for step in &self.path {
            match step {
                PathStep::Name(n) => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(n);
                }
                PathStep::Index(i) => out.push_str(&format!("[{i}]")),
            }
        }
        out
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// A problem's words, where only words can go (a provider error).
impl From<Problem> for String {
    fn from(p: Problem) -> String {
        p.message
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_built_and_printed_as_written() {
        let p = Problem::at("bridge", "no such bridge").inside("network", Some(1));
        assert_eq!(p.path_text(), "network[1].bridge");
        assert_eq!(
            Problem::at("dhcp", "x").then("range").path_text(),
            "dhcp.range"
        );
        assert_eq!(Problem::whole("x").path_text(), "");
    }
}
