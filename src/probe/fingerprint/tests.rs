//! Unit tests of the fingerprint tiers and statement classes.

use super::*;

fn pg(sql: &str) -> Fingerprint {
    fingerprint(sql, SqlDialect::Postgres)
}

fn my(sql: &str) -> Fingerprint {
    fingerprint(sql, SqlDialect::Mysql)
}

#[test]
fn literals_become_placeholders() {
    let a = pg("SELECT name, price FROM products WHERE id = 42 AND sku = 'AB-1'");
    let b = pg("select name,  price from products where id = 7 and sku = 'zz'");
    assert_eq!(a.strict, b.strict);
    assert_eq!(
        a.strict,
        "SELECT name, price FROM products WHERE id = ? AND sku = ?"
    );
    assert_eq!(
        a.readable,
        "SELECT ... FROM products WHERE id = ? AND sku = ?"
    );
    assert_eq!(a.class, StatementClass::Statement);
}

#[test]
fn readable_form_keeps_the_projection_without_from() {
    assert_eq!(pg("SELECT pg_sleep(2)").readable, "SELECT pg_sleep(?)");
    assert_eq!(pg("SELECT a, b FROM t").readable, "SELECT ... FROM t");
}

#[test]
fn dollar_placeholders_match_literals() {
    let with_placeholder = pg("SELECT * FROM products WHERE id = $1 LIMIT $2");
    let with_literal = pg("SELECT * FROM products WHERE id = 3 LIMIT 10");
    assert_eq!(with_placeholder.strict, with_literal.strict);
    assert_eq!(
        with_placeholder.strict,
        "SELECT * FROM products WHERE id = ? LIMIT ?"
    );
}

#[test]
fn question_mark_placeholders_in_mysql() {
    let fingerprint = my("SELECT `name` FROM products WHERE id = ? AND price > -5");
    assert_eq!(
        fingerprint.strict,
        "SELECT `name` FROM products WHERE id = ? AND price > ?"
    );
}

#[test]
fn in_lists_of_different_lengths_share_a_fingerprint() {
    let one = pg("SELECT id FROM products WHERE id IN (1)");
    let three = pg("SELECT id FROM products WHERE id IN (1, 2, 3)");
    let params = pg("SELECT id FROM products WHERE id IN ($1, $2, $3, $4)");
    assert_eq!(one.strict, three.strict);
    assert_eq!(one.strict, params.strict);
    assert_eq!(one.strict, "SELECT id FROM products WHERE id IN (?)");
}

#[test]
fn in_list_of_columns_is_kept() {
    let fingerprint = pg("SELECT id FROM t WHERE 3 IN (a, b)");
    assert_eq!(fingerprint.strict, "SELECT id FROM t WHERE ? IN (a, b)");
}

#[test]
fn values_lists_collapse_to_one_row() {
    let one = pg("INSERT INTO orders (user_id, total) VALUES (1, 9.5)");
    let many = pg("INSERT INTO orders (user_id, total) VALUES ($1, $2), ($3, $4), ($5, $6)");
    assert_eq!(one.strict, many.strict);
    assert_eq!(one.strict, "INSERT INTO orders (user_id, total) VALUES (?)");
    assert_eq!(one.readable, "INSERT INTO orders (...) VALUES (?)");
}

#[test]
fn comments_and_whitespace_are_normalised() {
    let plain = pg("SELECT id FROM users WHERE email = 'a@b.c'");
    let commented =
        pg("/* app: controller=users */ SELECT id\n\tFROM users -- trailing\n WHERE email = $1");
    assert_eq!(plain.strict, commented.strict);
}

#[test]
fn savepoint_names_are_removed() {
    for (sql, expected) in [
        ("SAVEPOINT sqlx_savepoint_3", "SAVEPOINT ?"),
        ("RELEASE SAVEPOINT sqlx_savepoint_3", "RELEASE SAVEPOINT ?"),
        (
            "ROLLBACK TO SAVEPOINT sqlx_savepoint_12",
            "ROLLBACK TO SAVEPOINT ?",
        ),
    ] {
        let fingerprint = pg(sql);
        assert_eq!(fingerprint.strict, expected, "for {sql}");
        assert_eq!(fingerprint.class, StatementClass::Transaction, "for {sql}");
    }
    assert_eq!(
        pg("SAVEPOINT s1").strict,
        pg("SAVEPOINT active_record_2").strict
    );
}

#[test]
fn cursor_names_are_removed() {
    assert_eq!(
        pg("FETCH 10 FROM cursor_17").strict,
        pg("FETCH 10 FROM cursor_3").strict
    );
    assert_eq!(pg("CLOSE c_1").strict, pg("CLOSE c_2").strict);
}

#[test]
fn unparseable_sql_falls_back_to_tokens_without_literals() {
    let sql = "SELEKT secret_col FROM t WHERE x = 'hunter2' AND y IN (1, 2, 3) AND z = 99";
    let fingerprint = pg(sql);
    assert!(!fingerprint.strict.contains("hunter2"));
    assert!(!fingerprint.strict.contains("99"));
    assert_eq!(
        fingerprint.strict,
        "SELEKT secret_col FROM t WHERE x = ? AND y IN (?) AND z = ?"
    );
    let other_values = pg("SELEKT secret_col FROM t WHERE x = 'x' AND y IN (5) AND z = 1");
    assert_eq!(fingerprint.strict, other_values.strict);
}

#[test]
fn unparseable_select_has_elided_readable_form() {
    let fingerprint = pg("SELECT a, b FROM t WHERE x = 1 FOR UPDATE OF t SKIP LOCKED NOWAIT QQQ");
    assert_eq!(
        fingerprint.readable,
        "SELECT ... FROM t WHERE x = ? FOR UPDATE OF t SKIP LOCKED NOWAIT QQQ"
    );
}

#[test]
fn multi_statement_strings_fingerprint_each_statement() {
    let parts = fingerprint_each(
        "BEGIN; UPDATE t SET a = 1 WHERE id = 2; COMMIT",
        SqlDialect::Postgres,
    );
    let classes: Vec<StatementClass> = parts.iter().map(|part| part.class).collect();
    assert_eq!(
        classes,
        [
            StatementClass::Transaction,
            StatementClass::Statement,
            StatementClass::Transaction
        ]
    );
    assert_eq!(parts[1].strict, "UPDATE t SET a = ? WHERE id = ?");
    let joined = pg("BEGIN; UPDATE t SET a = 1 WHERE id = 2; COMMIT");
    assert_eq!(joined.class, StatementClass::Statement);
    assert_eq!(
        joined.strict,
        "BEGIN; UPDATE t SET a = ? WHERE id = ?; COMMIT"
    );
}

#[test]
fn classes_of_control_statements() {
    for (sql, class) in [
        ("BEGIN", StatementClass::Transaction),
        (
            "START TRANSACTION ISOLATION LEVEL SERIALIZABLE",
            StatementClass::Transaction,
        ),
        ("COMMIT", StatementClass::Transaction),
        ("ROLLBACK", StatementClass::Transaction),
        ("SET search_path TO public", StatementClass::SetShow),
        ("SET NAMES utf8mb4", StatementClass::SetShow),
        ("SHOW transaction_isolation", StatementClass::SetShow),
        (
            "SELECT set_config('app.user', '42', false)",
            StatementClass::SetShow,
        ),
        ("SELECT 1", StatementClass::Ping),
        ("/* SQLx ping */", StatementClass::Ping),
        ("-- ping", StatementClass::Ping),
        ("", StatementClass::Ping),
        ("SELECT 1 FROM products", StatementClass::Statement),
        ("DELETE FROM carts WHERE id = 4", StatementClass::Statement),
    ] {
        assert_eq!(pg(sql).class, class, "for {sql:?}");
    }
    assert_eq!(my("SET NAMES 'utf8mb4'").class, StatementClass::SetShow);
    assert_eq!(
        my("SELECT @@max_allowed_packet, @@wait_timeout").class,
        StatementClass::SetShow
    );
    assert_eq!(
        pg("SELECT current_setting('server_version_num')").class,
        StatementClass::SetShow
    );
    assert_eq!(my("SELECT 1 FROM DUAL").class, StatementClass::Ping);
}

#[test]
fn class_names_round_trip() {
    for class in StatementClass::ALL {
        assert_eq!(StatementClass::from_name(class.as_str()), Some(class));
    }
    assert_eq!(StatementClass::from_name("transactions"), None);
}

#[test]
fn string_literals_never_reach_either_tier() {
    for sql in [
        "SELECT * FROM t WHERE a = 'leak-me'",
        "SELECT * FROM t WHERE a = E'leak-me'",
        "SELECT * FROM t WHERE a = $tag$leak-me$tag$",
        "COPY t FROM '/tmp/leak-me.csv'",
        "CREATE TABLE t (a TEXT DEFAULT 'leak-me')",
        "COMMENT ON TABLE t IS 'leak-me'",
        "SELECT INTERVAL '1 day leak-me'",
        "SELECT 'leak-me'::text",
    ] {
        let fingerprint = pg(sql);
        assert!(
            !fingerprint.strict.contains("leak-me"),
            "{sql}: {}",
            fingerprint.strict
        );
        assert!(
            !fingerprint.readable.contains("leak-me"),
            "{sql}: {}",
            fingerprint.readable
        );
    }
}

#[test]
fn readable_form_is_short() {
    let columns: Vec<String> = (0..80).map(|i| format!("column_{i}")).collect();
    let sql = format!(
        "UPDATE t SET {} WHERE id = 1",
        columns
            .iter()
            .map(|c| format!("{c} = 1"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let fingerprint = pg(&sql);
    assert!(fingerprint.readable.chars().count() <= READABLE_MAX_CHARS + 1);
    assert!(fingerprint.readable.ends_with('…'));
}

#[test]
fn mysql_syntax_is_normalised() {
    let a = my(
        "INSERT INTO `stock` (`sku`, qty) VALUES ('a', 1) ON DUPLICATE KEY UPDATE qty = qty + 1 # note",
    );
    let b = my(
        "INSERT INTO `stock` (`sku`, qty) VALUES ('b', 7), ('c', 2) ON DUPLICATE KEY UPDATE qty = qty + 5",
    );
    assert_eq!(a.strict, b.strict);
    assert!(!a.strict.contains("note"));
}

proptest::proptest! {
    #[test]
    fn literal_values_never_survive(
        text in "[a-z]{4,10}",
        number in 1_000u32..1_000_000_000,
        list_len in 1usize..20,
    ) {
        let list: Vec<String> = (0..list_len).map(|i| (u64::from(number) + i as u64).to_string()).collect();
        let sql = format!(
            "SELECT a FROM t WHERE b = 'zz{text}' AND c = {number} AND d IN ({})",
            list.join(", ")
        );
        let fingerprint = pg(&sql);
        proptest::prop_assert_eq!(
            fingerprint.strict.as_str(),
            "SELECT a FROM t WHERE b = ? AND c = ? AND d IN (?)"
        );
        let text_literal = format!("zz{text}");
        let number_literal = number.to_string();
        proptest::prop_assert!(!fingerprint.readable.contains(&text_literal));
        proptest::prop_assert!(!fingerprint.readable.contains(&number_literal));
    }
}
