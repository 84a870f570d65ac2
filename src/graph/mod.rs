//! The dependency graph of a configuration: variables, locals, resources and outputs, with an
//! edge from each to what it refers to. Cycles are reported with their whole path.

use crate::config::{Config, Expr, Repetition};
use crate::diag::{Diagnostic, Span};
use crate::lang::refs::{references, Reference, Subject};
use hive_sdk::addr::ResourceAddr;
use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};
use std::collections::{HashMap, VecDeque};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Node {
    Var(String),
    Local(String),
    Resource(ResourceAddr),
    Output(String),
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Node::Var(n) => write!(f, "var.{n}"),
            Node::Local(n) => write!(f, "local.{n}"),
            Node::Resource(a) => write!(f, "{a}"),
            Node::Output(n) => write!(f, "output.{n}"),
        }
    }
}

impl From<Subject> for Node {
    fn from(s: Subject) -> Node {
        match s {
            Subject::Var(n) => Node::Var(n),
            Subject::Local(n) => Node::Local(n),
            Subject::Resource(a) => Node::Resource(a),
        }
    }
}

/// The graph: an edge `a → b` means a refers to b (b must be evaluated first).
pub struct ConfigGraph {
    pub graph: DiGraph<Node, Span>,
    pub index: HashMap<Node, NodeIndex>,
    /// References to variables, locals or resources that are not declared. They make no
    /// edge; the walk reports them, even in branches evaluation never reaches.
    pub undeclared: Vec<Reference>,
}

impl ConfigGraph {
    /// Builds the graph. References to things that do not exist make no edge and are kept in
    /// `undeclared`.
    pub fn build(config: &Config) -> ConfigGraph {
        let mut g = ConfigGraph {
            graph: DiGraph::new(),
            index: HashMap::new(),
            undeclared: Vec::new(),
        };
        for name in config.variables.keys() {
            g.add(Node::Var(name.clone()));
        }
        for name in config.locals.keys() {
            g.add(Node::Local(name.clone()));
        }
        for addr in config.resources.keys() {
            g.add(Node::Resource(addr.clone()));
        }
        for name in config.outputs.keys() {
            g.add(Node::Output(name.clone()));
        }
        for (name, local) in &config.locals {
            g.connect(config, &Node::Local(name.clone()), [&local.expr]);
        }
        for (addr, resource) in &config.resources {
            let mut exprs: Vec<&Expr> = resource.depends_on.iter().collect();
            match &resource.repetition {
                Repetition::Count(e) | Repetition::ForEach(e) | Repetition::Enabled(e) => {
                    exprs.push(e)
                }
                Repetition::Single => {}
            }
            collect_body_exprs(&resource.body, &mut exprs);
            let life = &resource.lifecycle;
            exprs.extend(&life.replace_triggered_by);
            for c in life.preconditions.iter().chain(&life.postconditions) {
                exprs.push(&c.condition);
                exprs.push(&c.error_message);
            }
            g.connect(config, &Node::Resource(addr.clone()), exprs);
        }
        for (name, output) in &config.outputs {
            let exprs = std::iter::once(&output.value).chain(&output.depends_on);
            g.connect(config, &Node::Output(name.clone()), exprs);
        }
        g
    }

    fn add(&mut self, node: Node) -> NodeIndex {
        let i = self.graph.add_node(node.clone());
        self.index.insert(node, i);
        i
    }

    fn connect<'e>(
        &mut self,
        config: &Config,
        from: &Node,
        exprs: impl IntoIterator<Item = &'e Expr>,
    ) {
        let Some(&from_index) = self.index.get(from) else {
            return;
        };
        for expr in exprs {
            for reference in references(expr.file, &expr.expr, &config.catalog) {
                match self.index.get(&Node::from(reference.subject.clone())) {
                    Some(&to) => {
                        if !self.graph.contains_edge(from_index, to) {
                            self.graph.add_edge(from_index, to, reference.span);
                        }
                    }
                    None => self.undeclared.push(reference),
                }
            }
        }
    }

    /// One diagnostic per cycle, naming every step of it.
    pub fn cycles(&self) -> Vec<Diagnostic> {
        let mut out = Vec::new();
        for scc in tarjan_scc(&self.graph) {
            let is_cycle =
                scc.len() > 1 || scc.first().is_some_and(|&n| self.graph.contains_edge(n, n));
            if !is_cycle {
                continue;
            }
            let path = self.cycle_path(&scc);
            let names: Vec<String> = path.iter().map(|&n| self.graph[n].to_string()).collect();
            let first_edge = path
                .windows(2)
                .next()
                .and_then(|w| self.graph.find_edge(w[0], w[1]))
                .map(|e| self.graph[e].clone());
            out.push(
                Diagnostic::error("dependency cycle")
                    .detail(format!("these refer to each other: {}", names.join(" → ")))
                    .at_opt(first_edge)
                    .label(format!(
                        "{} refers to {}",
                        names[0],
                        names.get(1).map_or("", String::as_str)
                    ))
                    .help("break the cycle: one of them must not depend on the others"),
            );
        }
        out.sort_by(|a, b| a.detail.cmp(&b.detail));
        out
    }

    /// The shortest closed walk through a strongly connected component, from its smallest node
    /// back to itself, in the direction of the references.
    fn cycle_path(&self, scc: &[NodeIndex]) -> Vec<NodeIndex> {
        let Some(&start) = scc.iter().min_by_key(|&&n| &self.graph[n]) else {
            return Vec::new();
        };
        let mut parent: HashMap<NodeIndex, NodeIndex> = HashMap::new();
        let mut queue = VecDeque::from([start]);
        while let Some(n) = queue.pop_front() {
            let mut next: Vec<NodeIndex> = self
                .graph
                .neighbors(n)
                .filter(|m| scc.contains(m))
                .collect();
            next.sort_by_key(|&m| &self.graph[m]);
            for m in next {
                if m == start {
                    let mut path = vec![n];
                    while let Some(&p) = parent.get(path.last().unwrap_or(&start)) {
                        path.push(p);
                    }
                    if path.last() != Some(&start) {
                        path.push(start);
                    }
                    path.reverse();
                    path.push(start);
                    return path;
                }
                if m != start && !parent.contains_key(&m) {
                    parent.insert(m, n);
                    queue.push_back(m);
                }
            }
        }
        vec![start, start]
    }

    /// For each resource, the resources it depends on, directly or through locals.
    pub fn resource_dependencies(&self) -> HashMap<ResourceAddr, Vec<ResourceAddr>> {
        let mut out = HashMap::new();
        for (node, &start) in &self.index {
            let Node::Resource(addr) = node else { continue };
            let mut found = Vec::new();
            let mut seen = std::collections::HashSet::new();
            let mut stack: Vec<NodeIndex> = self.graph.neighbors(start).collect();
            while let Some(n) = stack.pop() {
                if !seen.insert(n) {
                    continue;
                }
                match &self.graph[n] {
                    Node::Resource(dep) => found.push(dep.clone()),
                    Node::Local(_) | Node::Var(_) => stack.extend(self.graph.neighbors(n)),
                    Node::Output(_) => {}
                }
            }
            found.sort();
            found.dedup();
            out.insert(addr.clone(), found);
        }
        out
    }

    /// Locals a resource's configuration depends on (through other locals), in the order to
    /// evaluate them; `order` is [`ConfigGraph::evaluation_order`], computed once by the caller.
    pub fn local_dependencies(&self, resource: &ResourceAddr, order: &[Node]) -> Vec<String> {
        let Some(&start) = self.index.get(&Node::Resource(resource.clone())) else {
            return Vec::new();
        };
        let mut needed = std::collections::HashSet::new();
        let mut stack: Vec<NodeIndex> = self.graph.neighbors(start).collect();
        while let Some(n) = stack.pop() {
            if let Node::Local(name) = &self.graph[n] {
                if needed.insert(name.clone()) {
                    stack.extend(self.graph.neighbors(n));
                }
            }
        }
        if needed.is_empty() {
            return Vec::new();
        }
        order
            .iter()
            .filter_map(|node| match node {
                Node::Local(name) if needed.contains(name) => Some(name.clone()),
                _ => None,
            })
            .collect()
    }

    /// Nodes in an order where everything comes after what it refers to. Nodes on a cycle are
    /// left out (their values stay unknown), so problems elsewhere are still found.
    pub fn evaluation_order(&self) -> Vec<Node> {
        // Tarjan's algorithm yields components in reverse topological order: what is referred
        // to comes first.
        tarjan_scc(&self.graph)
            .into_iter()
            .filter(|scc| scc.len() == 1 && !self.graph.contains_edge(scc[0], scc[0]))
            .map(|scc| self.graph[scc[0]].clone())
            .collect()
    }
}

fn collect_body_exprs<'c>(body: &'c crate::config::Body, out: &mut Vec<&'c Expr>) {
    out.extend(body.attributes.values().map(|a| &a.expr));
    for block in &body.blocks {
        if let Some(dynamic) = &block.dynamic {
            out.push(&dynamic.for_each.expr);
        }
        collect_body_exprs(&block.body, out);
    }
}
