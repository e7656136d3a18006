//! Fingerprint throughput over a realistic statement mix: ORM-style selects with
//! parameters, literal-inlined queries, IN lists, inserts, updates, transaction
//! control and pool pings, plus one statement sqlparser cannot parse.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use perfguard::probe::fingerprint::{SqlDialect, fingerprint};

/// The statement mix, weighted roughly like a web application's traffic.
const MIX: &[&str] = &[
    "SELECT p.id, p.name, p.price, p.stock FROM products p WHERE p.id = $1",
    "SELECT id, name, price FROM products WHERE id = 42",
    "SELECT r.product_id, r.score FROM recommendations r JOIN products p ON p.id = r.product_id WHERE r.user_id = $1 ORDER BY r.score DESC LIMIT 10",
    "SELECT id, email, created_at FROM users WHERE email = 'someone@example.com' AND deleted_at IS NULL",
    "SELECT id, name FROM products WHERE id IN (1, 2, 3, 4, 5, 6, 7, 8)",
    "INSERT INTO orders (user_id, total_cents, created_at) VALUES ($1, $2, now()) RETURNING id",
    "INSERT INTO order_items (order_id, product_id, quantity) VALUES (1, 2, 3), (1, 4, 1), (1, 9, 2)",
    "UPDATE products SET stock = stock - $1, updated_at = now() WHERE id = $2",
    "DELETE FROM carts WHERE user_id = $1 AND created_at < now() - interval '7 days'",
    "SELECT count(*) FROM orders o WHERE o.user_id = $1 AND o.status = 'paid'",
    "BEGIN",
    "COMMIT",
    "SAVEPOINT sqlx_savepoint_1",
    "SELECT 1",
    "/* SQLx ping */",
    "SET search_path TO public",
    "SELECT abalance FROM pgbench_accounts WHERE aid = 81234",
    "UPDATE pgbench_accounts SET abalance = abalance + -3120 WHERE aid = 81234",
    "WITH recent AS (SELECT product_id FROM views WHERE user_id = $1 ORDER BY viewed_at DESC LIMIT 20) SELECT p.* FROM products p JOIN recent ON recent.product_id = p.id",
    "SELEKT broken FROM nowhere WHERE x = 'not parsed'",
];

fn bench_fingerprint(c: &mut Criterion) {
    let mut group = c.benchmark_group("fingerprint");
    group.throughput(Throughput::Elements(MIX.len() as u64));
    group.bench_function("postgres_mix", |b| {
        b.iter(|| {
            for sql in MIX {
                std::hint::black_box(fingerprint(std::hint::black_box(sql), SqlDialect::Postgres));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench_fingerprint);
criterion_main!(benches);
