//! SQL fingerprints in two tiers: strict (grouping) and readable (reports).
//!
//! Both tiers come from sqlparser's AST, rewritten by a [`VisitorMut`] that turns
//! every literal and placeholder into `?`, collapses IN, ARRAY and VALUES lists
//! and drops savepoint and cursor names. A statement sqlparser cannot parse is
//! normalised token by token instead (module `fallback`). Literal values never
//! reach either tier: if the rewritten AST would still print a quoted string
//! (a literal stored outside a `Value` node), the token path is used.

mod fallback;

use std::ops::ControlFlow;

use serde::{Deserialize, Serialize};
use sqlparser::ast::{
    CloseCursor, Expr, Ident, InTarget, ObjectName, SelectItem, SetExpr, Statement, UnaryOperator,
    Value, ValueWithSpan, VisitMut, VisitorMut,
};
use sqlparser::dialect::{Dialect, GenericDialect, MySqlDialect, PostgreSqlDialect};
use sqlparser::parser::Parser;

/// Version of this algorithm (kept with the results model, which stores it in
/// every file). Bump it whenever a change makes the same SQL produce a
/// different strict fingerprint.
pub use crate::results::FINGERPRINT_VERSION;

/// Longest readable fingerprint, in characters; longer ones end in `…`.
const READABLE_MAX_CHARS: usize = 160;

/// The SQL dialect a statement is parsed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SqlDialect {
    Postgres,
    Mysql,
    Generic,
}

impl SqlDialect {
    fn parser_dialect(self) -> &'static dyn Dialect {
        match self {
            SqlDialect::Postgres => &PostgreSqlDialect {},
            SqlDialect::Mysql => &MySqlDialect {},
            SqlDialect::Generic => &GenericDialect {},
        }
    }
}

/// What kind of statement a fingerprint stands for; probes exclude some classes
/// from their counts (by default all but [`StatementClass::Statement`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StatementClass {
    /// BEGIN, START TRANSACTION, COMMIT, END, ROLLBACK, ABORT, SAVEPOINT, RELEASE.
    Transaction,
    /// SET, SHOW, RESET, `SELECT set_config(...)`, `SELECT current_setting(...)`
    /// and MySQL's `SELECT @@variable`.
    #[serde(rename = "set")]
    SetShow,
    /// Connection-pool health checks: `SELECT 1` and empty or comment-only statements.
    Ping,
    /// Everything else: the statements a probe counts.
    Statement,
}

impl StatementClass {
    /// Every class, in a stable order.
    pub const ALL: [StatementClass; 4] = [
        StatementClass::Transaction,
        StatementClass::SetShow,
        StatementClass::Ping,
        StatementClass::Statement,
    ];

    /// The name used in configuration files: `transaction`, `set`, `ping`, `statement`.
    pub fn as_str(self) -> &'static str {
        match self {
            StatementClass::Transaction => "transaction",
            StatementClass::SetShow => "set",
            StatementClass::Ping => "ping",
            StatementClass::Statement => "statement",
        }
    }

    /// The class named `name` (as [`StatementClass::as_str`] spells it), if any.
    pub fn from_name(name: &str) -> Option<StatementClass> {
        StatementClass::ALL
            .into_iter()
            .find(|class| class.as_str() == name)
    }

    /// Classifies a strict fingerprint (already normalised, keywords upper case).
    fn of_strict(strict: &str) -> StatementClass {
        let mut words = strict.split([' ', '(']);
        let first = words.next().unwrap_or("");
        match first {
            "" => StatementClass::Ping,
            "BEGIN" | "START" | "COMMIT" | "END" | "ROLLBACK" | "ABORT" | "SAVEPOINT"
            | "RELEASE" => StatementClass::Transaction,
            "SET" | "SHOW" | "RESET" => StatementClass::SetShow,
            "SELECT" => {
                let rest = &strict["SELECT ".len().min(strict.len())..];
                if matches!(rest, "?" | "? FROM DUAL" | "? AS ?") {
                    StatementClass::Ping
                } else if rest.starts_with("set_config(")
                    || rest.starts_with("pg_catalog.set_config(")
                    || rest.starts_with("current_setting(")
                    || rest.starts_with("@@")
                {
                    StatementClass::SetShow
                } else {
                    StatementClass::Statement
                }
            }
            _ => StatementClass::Statement,
        }
    }
}

/// The two fingerprint tiers of one SQL string and its class.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Fingerprint {
    /// Grouping key: literals and placeholders as `?`, lists collapsed, no comments.
    pub strict: String,
    /// Short form for reports, e.g. `SELECT ... FROM products WHERE id = ?`.
    pub readable: String,
    pub class: StatementClass,
}

/// Fingerprints `sql`, which may hold several statements separated by `;`
/// (their fingerprints are joined with `; `; the class is shared or `Statement`).
pub fn fingerprint(sql: &str, dialect: SqlDialect) -> Fingerprint {
    let mut parts = fingerprint_each(sql, dialect);
    if parts.len() == 1 {
        return parts.pop().expect("one part");
    }
    let class = match parts.first() {
        Some(first) if parts.iter().all(|part| part.class == first.class) => first.class,
        _ => StatementClass::Statement,
    };
    let strict = join(parts.iter().map(|part| part.strict.as_str()));
    let readable = truncate(join(parts.iter().map(|part| part.readable.as_str())));
    Fingerprint {
        strict,
        readable,
        class,
    }
}

/// Fingerprints each statement of `sql` separately. Empty or comment-only SQL
/// gives one fingerprint of class [`StatementClass::Ping`]: an empty strict
/// tier, and the comment itself (`/* SQLx ping */`) or `(empty statement)` as
/// the readable one.
pub fn fingerprint_each(sql: &str, dialect: SqlDialect) -> Vec<Fingerprint> {
    let parsed = Parser::parse_sql(dialect.parser_dialect(), sql);
    let mut fingerprints: Vec<Fingerprint> = match parsed {
        Ok(statements) => statements
            .into_iter()
            .map(|statement| from_statement(statement, sql, dialect))
            .collect(),
        Err(_) => fallback::fingerprint_tokens(sql, dialect),
    };
    if fingerprints.is_empty() {
        let words: Vec<&str> = sql.split_whitespace().collect();
        let readable = if words.is_empty() {
            "(empty statement)".to_owned()
        } else {
            truncate(words.join(" "))
        };
        fingerprints.push(Fingerprint {
            strict: String::new(),
            readable,
            class: StatementClass::Ping,
        });
    }
    fingerprints
}

fn join<'a>(parts: impl Iterator<Item = &'a str>) -> String {
    parts.collect::<Vec<_>>().join("; ")
}

/// Cuts `readable` to [`READABLE_MAX_CHARS`] characters, ending in `…` when cut.
fn truncate(mut readable: String) -> String {
    if let Some((cut, _)) = readable.char_indices().nth(READABLE_MAX_CHARS) {
        readable.truncate(cut);
        readable.push('…');
    }
    readable
}

/// True when printed SQL could still hold a literal value (a quoted string or a
/// dollar-quoted body stored outside a `Value` node).
fn may_hold_literal(printed: &str) -> bool {
    printed.contains(['\'', '$'])
}

fn from_statement(mut statement: Statement, sql: &str, dialect: SqlDialect) -> Fingerprint {
    let _ = statement.visit(&mut StrictRewriter);
    let strict = statement.to_string();
    if may_hold_literal(&strict) {
        return fallback::fingerprint_tokens(sql, dialect)
            .into_iter()
            .next()
            .unwrap_or_else(|| Fingerprint {
                strict: String::new(),
                readable: String::new(),
                class: StatementClass::Ping,
            });
    }
    let class = StatementClass::of_strict(&strict);
    let _ = statement.visit(&mut ReadableRewriter);
    let readable = truncate(statement.to_string());
    Fingerprint {
        strict,
        readable,
        class,
    }
}

fn placeholder() -> Expr {
    Expr::Value(Value::Placeholder("?".to_owned()).with_empty_span())
}

fn is_placeholder(expr: &Expr) -> bool {
    matches!(expr, Expr::Value(ValueWithSpan { value: Value::Placeholder(p), .. }) if p == "?")
}

fn anonymous() -> Ident {
    Ident::new("?")
}

/// Rewrites an AST into its strict form.
struct StrictRewriter;

impl VisitorMut for StrictRewriter {
    type Break = ();

    fn post_visit_value(&mut self, value: &mut ValueWithSpan) -> ControlFlow<()> {
        value.value = Value::Placeholder("?".to_owned());
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        match expr {
            Expr::In {
                target: InTarget::List(list),
                ..
            } if list.iter().all(is_placeholder) => list.truncate(1),
            Expr::Array(array) if array.elem.iter().all(is_placeholder) => array.elem.truncate(1),
            Expr::UnaryOp {
                op: UnaryOperator::Minus | UnaryOperator::Plus,
                expr: operand,
            } if is_placeholder(operand) => *expr = placeholder(),
            _ => {}
        }
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, query: &mut sqlparser::ast::Query) -> ControlFlow<()> {
        if let SetExpr::Values(values) = query.body.as_mut() {
            values.rows.dedup_by(|a, b| a.content == b.content);
            if values.rows.len() > 1 {
                // Rows differing only in non-literal expressions: keep the first shape.
                values.rows.truncate(1);
            }
            for row in &mut values.rows {
                if row.content.iter().all(is_placeholder) {
                    row.content.truncate(1);
                }
            }
        }
        ControlFlow::Continue(())
    }

    fn post_visit_statement(&mut self, statement: &mut Statement) -> ControlFlow<()> {
        match statement {
            Statement::Savepoint { name } | Statement::ReleaseSavepoint { name } => {
                *name = anonymous();
            }
            Statement::Rollback {
                savepoint: Some(name),
                ..
            } => *name = anonymous(),
            Statement::Fetch { name, .. } => *name = anonymous(),
            Statement::Close {
                cursor: CloseCursor::Specific { name },
            } => *name = anonymous(),
            Statement::Declare { stmts, .. } => {
                for declare in stmts {
                    for name in &mut declare.names {
                        *name = anonymous();
                    }
                }
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

/// Shortens a strict AST for reports: projections of SELECTs with a FROM and
/// INSERT column lists become `...`.
struct ReadableRewriter;

impl VisitorMut for ReadableRewriter {
    type Break = ();

    fn pre_visit_select(&mut self, select: &mut sqlparser::ast::Select) -> ControlFlow<()> {
        if select.from.is_empty() {
            // `SELECT pg_sleep(?)`: the projection is the whole statement.
            return ControlFlow::Continue(());
        }
        select.projection = vec![SelectItem::UnnamedExpr(Expr::Identifier(Ident::new("...")))];
        ControlFlow::Continue(())
    }

    fn post_visit_statement(&mut self, statement: &mut Statement) -> ControlFlow<()> {
        if let Statement::Insert(insert) = statement
            && !insert.columns.is_empty()
        {
            insert.columns = vec![ObjectName::from(vec![Ident::new("...")])];
        }
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests;
