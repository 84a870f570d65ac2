#![allow(clippy::unwrap_used)]

use super::*;

/// Parses `src` with hcl-edit and converts it to an `hcl::Body`, which ignores
/// all whitespace, comments and other decoration.
fn meaning(src: &str) -> Result<hcl::Body, String> {
    hcl_edit::parser::parse_body(src)
        .map(hcl::Body::from)
        .map_err(|e| e.to_string())
}

/// Asserts the formatted output is idempotent and, if the input is valid HCL,
/// that the output is valid HCL with the same meaning.
fn check_properties(before: &str) -> String {
    let once = format_source(before).unwrap();
    let twice = format_source(&once).unwrap();
    assert_eq!(once, twice, "not idempotent for input:\n{before}");
    if let Ok(body) = meaning(before) {
        let formatted = meaning(&once)
            .unwrap_or_else(|e| panic!("output does not parse: {e}\n--- output:\n{once}"));
        assert_eq!(body, formatted, "meaning changed for input:\n{before}");
    }
    once
}

/// Before/after example; the input must be valid HCL.
#[track_caller]
fn check(before: &str, after: &str) {
    assert!(
        meaning(before).is_ok(),
        "example is not valid HCL: {:?}\n{before}",
        meaning(before).err()
    );
    let got = check_properties(before);
    assert_eq!(got, after, "\n--- got:\n{got}\n--- expected:\n{after}");
    // Only the tokens matter, not the whitespace between them.
    let mut seed = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..8 {
        let jiggled = jiggle(before, &mut seed);
        let got = check_properties(&jiggled);
        assert_eq!(
            got, after,
            "\n--- jiggled input:\n{jiggled}\n--- got:\n{got}"
        );
    }
}

/// Before/after example for input that is not valid HCL.
#[track_caller]
fn check_invalid(before: &str, after: &str) {
    let got = check_properties(before);
    assert_eq!(got, after, "\n--- got:\n{got}\n--- expected:\n{after}");
}

const REALISTIC_BEFORE: &str = r#"

# Cluster definition for the integration tests.
variable "nodes" {
  type = number
     default = 3 # how many nodes
  description="Number of nodes"
}
variable "env" {
  type    = string
  default = "dev"
}
locals {
  prefix = "hive-${var.env}"
  long_name_here = "x"



  tags = { env = var.env, owner="me" }
  ports = [ 22,80 ,443 ]
  subnet = cidrsubnet( "10.0.0.0/8" , 8 , 1 )
}
host "local" {}
bridge "lan" {
  cidr = "10.77.0.1/24"
  dhcp { range = ["10.77.0.100", "10.77.0.200"] }
}

instance "node" {
	count = 3
	/* Every node gets the same image;
	   overridable per environment.   */
	image = "debian-12" // trailing comment
	name = "${local.prefix}-node-${count.index}"
	bridge = bridge.lan.name

	cloud_init {
		user_data = <<EOF
#cloud-config
hostname: ${local.prefix}-${count.index}
   indented: stays   
EOF
		run_cmd = <<-EOT
		  echo "${var.env}" > /etc/env
		EOT
	}
}
output "ips" {
  value = [
    for i in instance.node : i.ip
  ]
}
"#;

const REALISTIC_AFTER: &str = r#"# Cluster definition for the integration tests.
variable "nodes" {
  type        = number
  default     = 3 # how many nodes
  description = "Number of nodes"
}

variable "env" {
  type    = string
  default = "dev"
}

locals {
  prefix         = "hive-${var.env}"
  long_name_here = "x"

  tags   = { env = var.env, owner = "me" }
  ports  = [22, 80, 443]
  subnet = cidrsubnet("10.0.0.0/8", 8, 1)
}

host "local" {}

bridge "lan" {
  cidr = "10.77.0.1/24"
  dhcp { range = ["10.77.0.100", "10.77.0.200"] }
}

instance "node" {
  count = 3
  /* Every node gets the same image;
	   overridable per environment.   */
  image  = "debian-12" // trailing comment
  name   = "${local.prefix}-node-${count.index}"
  bridge = bridge.lan.name

  cloud_init {
    user_data = <<EOF
#cloud-config
hostname: ${local.prefix}-${count.index}
   indented: stays   
EOF
    run_cmd = <<-EOT
		  echo "${var.env}" > /etc/env
		EOT
  }
}

output "ips" {
  value = [
    for i in instance.node : i.ip
  ]
}
"#;

#[test]
fn realistic_config() {
    check(REALISTIC_BEFORE, REALISTIC_AFTER);
}

#[test]
fn already_canonical_is_unchanged() {
    check(REALISTIC_AFTER, REALISTIC_AFTER);
}

// ---------------------------------------------------------------- indentation

#[test]
fn indentation_follows_bracket_depth() {
    check(
        "locals {\nx = {\na = [\n1,\n2,\n]\n}\n}\n",
        "locals {\n  x = {\n    a = [\n      1,\n      2,\n    ]\n  }\n}\n",
    );
}

#[test]
fn indentation_replaces_tabs_and_odd_indents() {
    check(
        "host \"local\" {\n\t\taddress = \"127.0.0.1\"\n   port = 22\n      }\n",
        "host \"local\" {\n  address = \"127.0.0.1\"\n  port    = 22\n}\n",
    );
}

#[test]
fn several_brackets_opened_on_one_line_indent_once() {
    check(
        "locals {\nx = merge({\na = 1\n}, {\nb = 2\n})\ny = jsonencode([{\nc = 3\n}])\n}\n",
        "locals {\n  x = merge({\n    a = 1\n  }, {\n    b = 2\n  })\n  y = jsonencode([{\n    c = 3\n  }])\n}\n",
    );
}

#[test]
fn closing_bracket_later_in_line_does_not_dedent() {
    check(
        "locals {\nports = [22,\n80]\n}\n",
        "locals {\n  ports = [22,\n    80]\n}\n",
    );
}

#[test]
fn unbalanced_closers_clamp_at_zero() {
    check_invalid("}\n)\na = 1\n  ]]\n", "}\n)\n\na = 1\n]]\n");
}

// -------------------------------------------------------------------- spacing

#[test]
fn spacing_around_operators() {
    check(
        "locals {\n  a = 1+2*3-4/5%6\n  b = x==y&&y!=z||!w\n  c = a<b&&c<=d&&e>f&&g>=h\n  d = n>0?\"pos\":\"neg\"\n  e = (a+b)*-c\n  f = - 1\n  g = [-1, - x, !y]\n  h = a - -b\n}\n",
        "locals {\n  a = 1 + 2 * 3 - 4 / 5 % 6\n  b = x == y && y != z || !w\n  c = a < b && c <= d && e > f && g >= h\n  d = n > 0 ? \"pos\" : \"neg\"\n  e = (a + b) * -c\n  f = -1\n  g = [-1, -x, !y]\n  h = a - -b\n}\n",
    );
}

#[test]
fn hyphenated_identifiers_are_not_split() {
    // `a-b` is a single identifier in HCL; `a -b` is a subtraction.
    check(
        "locals {\n  x = my-var\n  y = my-var -1\n}\n",
        "locals {\n  x = my-var\n  y = my-var - 1\n}\n",
    );
    // `my-var-` is one (invalid) token; it is not split either.
    check_invalid("z = my-var- 1", "z = my-var- 1\n");
}

#[test]
fn spacing_of_commas_and_brackets() {
    check(
        "locals {\n  a = [ 1 , 2,3 ]\n  b = f( x ,y )\n  c = { }\n  d = [ ]\n  e = f( )\n  f = {a=1}\n  g = {   a = 1 ,  b = 2   }\n}\n",
        "locals {\n  a = [1, 2, 3]\n  b = f(x, y)\n  c = {}\n  d = []\n  e = f()\n  f = { a = 1 }\n  g = { a = 1, b = 2 }\n}\n",
    );
}

#[test]
fn spacing_of_traversals_and_splats() {
    check(
        "locals {\n  a = var . list [ 0 ] . name\n  b = aws.x [ * ] . id\n  c = var.list . * . name\n  d = \"abc\" [0]\n  e = f(x) [0]\n  f = local.m [\"k\"] [1]\n  g = local.list.0.name\n}\n",
        "locals {\n  a = var.list[0].name\n  b = aws.x[*].id\n  c = var.list.*.name\n  d = \"abc\"[0]\n  e = f(x)[0]\n  f = local.m[\"k\"][1]\n  g = local.list.0.name\n}\n",
    );
}

#[test]
fn spacing_of_function_calls_and_ellipsis() {
    check(
        "locals {\n  a = max (1, 2)\n  b = concat(var.lists ...)\n  c = provider :: hive :: tag(1)\n  d = length ( [ ] )\n}\n",
        "locals {\n  a = max(1, 2)\n  b = concat(var.lists...)\n  c = provider::hive::tag(1)\n  d = length([])\n}\n",
    );
}

#[test]
fn spacing_of_for_expressions() {
    check(
        "locals {\n  a = [ for n in range(3):\"node-${n}\" if n!=0 ]\n  b = {for k,v in local.tags:k=>upper(v)}\n  c = {for k, v in local.tags : v => k...}\n  d = [for x in[1, 2] : x if(x > 1)]\n  e = [for x in local.xs : x.in]\n  f = [for s in var.list : upper(s)]\n}\n",
        "locals {\n  a = [for n in range(3) : \"node-${n}\" if n != 0]\n  b = { for k, v in local.tags : k => upper(v) }\n  c = { for k, v in local.tags : v => k... }\n  d = [for x in [1, 2] : x if (x > 1)]\n  e = [for x in local.xs : x.in]\n  f = [for s in var.list : upper(s)]\n}\n",
    );
}

#[test]
fn multi_line_for_expression() {
    check(
        "locals {\n  by_name = {\n    for n in var.nodes:\n    n.name => n\n    if n.enabled\n  }\n}\n",
        "locals {\n  by_name = {\n    for n in var.nodes :\n    n.name => n\n    if n.enabled\n  }\n}\n",
    );
}

#[test]
fn object_colon_and_block_labels() {
    check(
        "locals {\n  o = { a:1, \"b\" :2 }\n}\nbridge   \"lan\"{\n}\nresource \"hive_vm\"   \"web\"   {}\n",
        "locals {\n  o = { a : 1, \"b\" : 2 }\n}\n\nbridge \"lan\" {\n}\n\nresource \"hive_vm\" \"web\" {}\n",
    );
}

#[test]
fn multi_line_expressions_keep_their_line_breaks() {
    check(
        "locals {\n  ok = (var.a &&\n  var.b) ? 1 : 2\n  sum = (1\n  + 2\n  - 3)\n}\n",
        "locals {\n  ok = (var.a &&\n    var.b) ? 1 : 2\n  sum = (1\n    + 2\n    - 3)\n}\n",
    );
}

// ------------------------------------------------------------------ alignment

#[test]
fn alignment_runs_are_broken_by_blank_lines_comments_and_blocks() {
    check(
        "host \"local\" {\n  a = 1\n  bbbb = 2\n\n  cc = 3\n  d = 4\n  # comment\n  eeeee = 5\n  f = 6\n  nested {}\n  gg = 7\n  h = 8\n}\n",
        "host \"local\" {\n  a    = 1\n  bbbb = 2\n\n  cc = 3\n  d  = 4\n  # comment\n  eeeee = 5\n  f     = 6\n  nested {}\n  gg = 7\n  h  = 8\n}\n",
    );
}

#[test]
fn alignment_run_ends_after_multi_line_value() {
    check(
        "locals {\n  a = 1\n  bbb = [\n    1,\n  ]\n  cc = 2\n  d = 3\n}\n",
        "locals {\n  a   = 1\n  bbb = [\n    1,\n  ]\n  cc = 2\n  d  = 3\n}\n",
    );
}

#[test]
fn alignment_in_object_constructors() {
    check(
        "locals {\n  tags = {\n    env = \"dev\"\n    \"owner.name\" = \"me\"\n    team_name = \"infra\"\n  }\n}\n",
        "locals {\n  tags = {\n    env          = \"dev\"\n    \"owner.name\" = \"me\"\n    team_name    = \"infra\"\n  }\n}\n",
    );
}

#[test]
fn alignment_with_trailing_comments_and_heredoc() {
    check(
        "locals {\n  a = 1 # one\n  long = 2 // two\n  doc = <<EOF\nx\nEOF\n  b = 3\n}\n",
        "locals {\n  a    = 1 # one\n  long = 2 // two\n  doc  = <<EOF\nx\nEOF\n  b = 3\n}\n",
    );
}

#[test]
fn top_level_attributes_are_aligned() {
    check("a = 1\nlong = 2\n", "a    = 1\nlong = 2\n");
}

// ---------------------------------------------------------------- blank lines

#[test]
fn blank_lines_collapse_and_are_removed_inside_brackets_edges() {
    check(
        "\n\n\nlocals {\n\n\n  a = 1\n\n\n\n  b = [\n\n    1,\n\n  ]\n\n}\n\n\n",
        "locals {\n  a = 1\n\n  b = [\n    1,\n  ]\n}\n",
    );
}

#[test]
fn blank_line_inserted_between_top_level_items() {
    check(
        "variable \"a\" {}\nvariable \"b\" {\n}\nx = 1\ny = 2\nlocals {}\nz = 3\n",
        "variable \"a\" {}\n\nvariable \"b\" {\n}\n\nx = 1\ny = 2\n\nlocals {}\n\nz = 3\n",
    );
}

#[test]
fn comment_directly_above_block_stays_attached() {
    check(
        "host \"local\" {}\n# The LAN bridge.\n// Second line.\nbridge \"lan\" {}\n/* detached */\n\noutput \"x\" {\n  value = 1\n}\n",
        "host \"local\" {}\n\n# The LAN bridge.\n// Second line.\nbridge \"lan\" {}\n/* detached */\n\noutput \"x\" {\n  value = 1\n}\n",
    );
}

#[test]
fn blank_lines_around_comments_inside_blocks() {
    check(
        "locals {\n\n  # first\n  a = 1\n\n\n  # last\n\n}\n",
        "locals {\n  # first\n  a = 1\n\n  # last\n}\n",
    );
}

// ------------------------------------------------- whitespace and line endings

#[test]
fn trailing_whitespace_and_final_newline() {
    check("a = 1   \t\nb = 2", "a = 1\nb = 2\n");
    check("a = 1\n\n\n\n", "a = 1\n");
    check("   \n\n  a = 1", "a = 1\n");
}

#[test]
fn empty_and_whitespace_only_input() {
    check("", "");
    check("\n\n   \n\t\n", "");
}

#[test]
fn crlf_is_normalised_outside_heredocs() {
    check(
        "locals {\r\n  a = 1 \r\n  b = \"x\"\r\n}\r\n",
        "locals {\n  a = 1\n  b = \"x\"\n}\n",
    );
    check(
        "x = <<EOF\r\nline one\r\nEOF\r\ny = 2\r\n",
        "x = <<EOF\nline one\r\nEOF\n\ny = 2\n",
    );
}

// ------------------------------------------------------------------- comments

#[test]
fn comments_of_all_kinds_are_kept() {
    check(
        "# hash\n// slashes\n/* block */\nlocals {\n  a = 1 #trailing hash   \n  b = 2// trailing slashes\n  c = /* inline */ 3\n  /* multi\n     line   \n  comment */\n  d = 4\n}\n",
        "# hash\n// slashes\n/* block */\nlocals {\n  a = 1 #trailing hash\n  b = 2 // trailing slashes\n  c = /* inline */ 3\n  /* multi\n     line\n  comment */\n  d = 4\n}\n",
    );
}

#[test]
fn comment_at_end_of_file_without_newline() {
    check("a = 1\n# end", "a = 1\n# end\n");
}

// ------------------------------------------------------------------- heredocs

#[test]
fn heredocs_are_kept_verbatim() {
    check(
        "instance \"node\" {\ncloud_init {\nuser_data = <<EOF\n  #cloud-config   \n\n\n    runcmd: [\"echo ${var.x}\"]\n  { unbalanced [ (\nEOF\nscript = <<-EOT\n      echo \"${upper(var.name)}\"\n    EOT\n}\n}\n",
        "instance \"node\" {\n  cloud_init {\n    user_data = <<EOF\n  #cloud-config   \n\n\n    runcmd: [\"echo ${var.x}\"]\n  { unbalanced [ (\nEOF\n    script = <<-EOT\n      echo \"${upper(var.name)}\"\n    EOT\n  }\n}\n",
    );
}

#[test]
fn heredoc_as_function_argument() {
    check(
        "locals {\n  cfg = yamldecode( <<EOT\na: 1\nEOT\n  )\n  list = [<<A\nx\nA\n  , \"y\"]\n}\n",
        "locals {\n  cfg = yamldecode(<<EOT\na: 1\nEOT\n  )\n  list = [<<A\nx\nA\n    , \"y\"]\n}\n",
    );
}

#[test]
fn heredoc_delimiter_needs_a_whole_word() {
    // `EOFX` does not close `EOF`.
    check(
        "x = <<EOF\nEOFX\n  EOF\n\ny = 1\n",
        "x = <<EOF\nEOFX\n  EOF\n\ny = 1\n",
    );
}

// -------------------------------------------------------------------- strings

#[test]
fn strings_are_opaque() {
    check(
        "locals {\n  a = \"# not a comment\"\n  b = \"// nor this /* or this\"\n  c = \"{ [ ( unbalanced\"\n  d = \"say \\\"hi\\\"   there\"\n  e = \"${ \"nested\" }-${ lookup(var.m, \"k}\", \"{\") }\"\n  f = \"%{ if var.x }yes%{ else }no%{ endif }\"\n  g = \"$${literal} %%{literal}\"\n  h = \"${var.a}\"==\"x\"\n}\n",
        "locals {\n  a = \"# not a comment\"\n  b = \"// nor this /* or this\"\n  c = \"{ [ ( unbalanced\"\n  d = \"say \\\"hi\\\"   there\"\n  e = \"${ \"nested\" }-${ lookup(var.m, \"k}\", \"{\") }\"\n  f = \"%{ if var.x }yes%{ else }no%{ endif }\"\n  g = \"$${literal} %%{literal}\"\n  h = \"${var.a}\" == \"x\"\n}\n",
    );
}

#[test]
fn numbers_and_unicode_identifiers() {
    check(
        "locals {\n  a = 1.5e3+2E-2\n  b = 0.25*10\n  größe = 3\n}\n",
        "locals {\n  a     = 1.5e3 + 2E-2\n  b     = 0.25 * 10\n  größe = 3\n}\n",
    );
}

// --------------------------------------------------------------------- errors

#[test]
fn errors_report_the_offending_offset() {
    let err = |src: &str| format_source(src).unwrap_err();
    assert_eq!(
        err("a = 1\nb = \"abc"),
        FormatError {
            message: "unterminated string".into(),
            offset: 10
        }
    );
    // A quoted string may not span lines.
    assert_eq!(err("b = \"abc\nc = 1\n").offset, 4);
    // The innermost unterminated string is reported.
    assert_eq!(err("b = \"${ \"abc\n\" }\"").offset, 8);
    assert_eq!(err("b = \"${ lower(\"x)}\"").message, "unterminated string");
    assert_eq!(err("b = \"${ lower(\"x)}\"").offset, 4);
    assert_eq!(
        err("x = 1\ny = <<EOF\nhello\nEOFX\n"),
        FormatError {
            message: "unterminated heredoc".into(),
            offset: 10
        }
    );
    assert_eq!(err("y = <<-EOT").message, "unterminated heredoc");
    assert_eq!(
        err("a = 1 /* open\n comment\n"),
        FormatError {
            message: "unterminated block comment".into(),
            offset: 6
        }
    );
    assert_eq!(err("\"").offset, 0);
    assert_eq!(err("/*").offset, 0);
    assert!(err("/*").to_string().contains("block comment"));
}

#[test]
fn adversarial_inputs_do_not_panic() {
    let deep_open = "[".repeat(10_000);
    let deep_close = "}".repeat(10_000);
    let deep_lines = "(\n".repeat(2_000) + &")\n".repeat(2_000);
    let deep_string = "\"${".repeat(10_000);
    let long_line = "a = ".to_string() + &"x + ".repeat(50_000) + "1";
    let inputs: Vec<&str> = vec![
        "}}}{{{",
        ")]}",
        "{[(",
        &deep_open,
        &deep_close,
        &deep_lines,
        &deep_string,
        &long_line,
        "\"",
        "<<",
        "<<-",
        "<<EOF",
        "<< EOF\nEOF",
        "/*",
        "*/",
        "#",
        "//",
        "\\",
        "\r",
        "\r\r\n\r",
        "\u{feff}a = 1",
        "a\u{a0}=\u{3000}1",
        "é\u{301} = 1",
        "@$~;^`'",
        "a = .5",
        "a = 1..2 ... .... . . .",
        "a = 1 . 5",
        "a = 1e",
        "a = 1e+",
        "x = - - - 1 ! ! = =",
        "a = b /* c */ / d",
        "a = b / / c",
        "a = \"${\"${\"${\"x\"}\"}\"}\"",
        "a = \"\\",
        "a = \"\\\n\"",
        "\0\u{1}\u{7f}",
        "a b c d = = = { { [ ( : ? ::: :: ..",
    ];
    for input in inputs {
        if format_source(input).is_ok() {
            check_properties(input);
        }
    }
}

/// Deterministic pseudo-random token soup: no panics, and idempotent output.
#[test]
fn random_token_soup_is_idempotent() {
    const PIECES: &[&str] = &[
        "a",
        "b-c",
        "for",
        "in",
        "if",
        "1",
        "2.5",
        "1e3",
        "\"s\"",
        "\"${x}\"",
        "=",
        "==",
        "!",
        "!=",
        "-",
        "+",
        "*",
        "/",
        "%",
        "<",
        ">=",
        "&&",
        "||",
        "?",
        ":",
        "::",
        "=>",
        ".",
        "...",
        ",",
        "(",
        ")",
        "[",
        "]",
        "{",
        "}",
        " ",
        "  ",
        "\t",
        "\n",
        "\n\n",
        "# c\n",
        "// c\n",
        "/* c */",
        "/*\n c \n*/",
        "<<EOF\nx\nEOF\n",
        "<<-E\n  y\n  E\n",
        "\r\n",
        "@",
        "&",
        "|",
    ];
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || xorshift(&mut seed);
    for _ in 0..3_000 {
        let len = (next() % 40) as usize;
        let mut src = String::new();
        for _ in 0..len {
            src.push_str(PIECES[(next() % PIECES.len() as u64) as usize]);
        }
        if format_source(&src).is_ok() {
            check_properties(&src);
        }
    }
}

#[test]
fn all_examples_are_idempotent_and_preserve_meaning() {
    // `check` already verifies both properties for every example above; this
    // additionally runs them on the formatted realistic config repeated.
    let big = REALISTIC_BEFORE.repeat(5);
    check_properties(&big);
}

/// Formats ~1 MB of configuration. Run with
/// `cargo test --release -- --ignored --nocapture format_one_megabyte`.
#[test]
#[ignore]
fn format_one_megabyte() {
    let copies = (1 << 20) / REALISTIC_BEFORE.len() + 1;
    let src = REALISTIC_BEFORE.repeat(copies);
    let start = std::time::Instant::now();
    let out = format_source(&src).unwrap();
    let elapsed = start.elapsed();
    println!(
        "formatted {} bytes into {} bytes in {:?}",
        src.len(),
        out.len(),
        elapsed
    );
    assert!(
        elapsed < std::time::Duration::from_millis(100),
        "{elapsed:?}"
    );
}

fn xorshift(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

/// Re-emits `src` with the whitespace between tokens randomly changed:
/// removed where the two tokens stay separate tokens, otherwise replaced by
/// other blanks. Formatting the result must give the same output.
fn jiggle(src: &str, seed: &mut u64) -> String {
    let tokens = lexer::lex(src).unwrap();
    let mut out = String::new();
    let mut prev: Option<lexer::Token> = None;
    for t in tokens {
        if let Some(p) = prev {
            let gap = &src[p.end..t.start];
            if !gap.is_empty() {
                let pair = format!("{}{}", &src[p.start..p.end], &src[t.start..t.end]);
                let separable =
                    lexer::lex(&pair).is_ok_and(|v| v.len() == 2 && v[0].end == p.end - p.start);
                match xorshift(seed) % 4 {
                    0 if separable => {}
                    0 | 1 => out.push_str(gap),
                    2 => out.push_str(" \t "),
                    _ => out.push(' '),
                }
            }
        } else {
            out.push_str(&src[..t.start]);
        }
        out.push_str(&src[t.start..t.end]);
        prev = Some(t);
    }
    out
}

#[test]
fn trailing_comments_line_up_within_a_run_of_attributes() {
    let input = "host \"hv2\" {\n  address = \"10.0.0.12\" # remote host\n  user = \"root\"\n  max_parallel = 4 # per-host cap\n}\n";
    let expected = "host \"hv2\" {\n  address      = \"10.0.0.12\" # remote host\n  user         = \"root\"\n  max_parallel = 4           # per-host cap\n}\n";
    let once = format_source(input).unwrap();
    assert_eq!(once, expected);
    assert_eq!(format_source(&once).unwrap(), once);
}
