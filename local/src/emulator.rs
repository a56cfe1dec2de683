//! The emulator's file, as `crm-local dynamodb` serves it.

/// Indexes the emulator's stream records by sequence number. dynoxide (3.2) finds the next
/// sequence number with `MAX(CAST(sequence_number AS INTEGER))` and reads a shard with the
/// same cast, over an unindexed table that keeps every record with both images: every
/// write (the rate window of every request too) scanned all the records written before it,
/// so a local stack got slower with each write (8 ms of emulator CPU per read and 125 ms per
/// write after the load test's seeding). SQLite uses an index on the same expression for
/// both queries; it is created once, beside dynoxide's schema, and kept by the file.
pub fn index_stream_records(path: &str) -> Result<(), String> {
    let conn = rusqlite::Connection::open(path).map_err(|e| format!("cannot open {path}: {e}"))?;
    conn.execute_batch(
        "CREATE INDEX IF NOT EXISTS crm_local_stream_sequence ON _stream_records \
             (table_name, CAST(sequence_number AS INTEGER));
         CREATE INDEX IF NOT EXISTS crm_local_stream_shard_sequence ON _stream_records \
             (table_name, shard_id, CAST(sequence_number AS INTEGER));",
    )
    .map_err(|e| format!("cannot index the stream records in {path}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plan SQLite picks for each of dynoxide's stream-record queries (their text as
    /// dynoxide 3.2 sends it): a search of the index, not a scan of every record.
    #[test]
    fn the_stream_queries_use_the_sequence_indexes() {
        let dir = std::env::temp_dir().join(format!("crm-local-index-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("db.sqlite");
        let path = path.to_str().unwrap();
        let _db = dynoxide::Database::new(path).unwrap();
        index_stream_records(path).unwrap();
        index_stream_records(path).unwrap(); // a restart finds them in place
        let conn = rusqlite::Connection::open(path).unwrap();
        let queries: [(&str, &[&str]); 2] = [
            ("SELECT COALESCE(MAX(CAST(sequence_number AS INTEGER)), 0) + 1 FROM _stream_records \
             WHERE table_name = ?1", &["t"]),
            ("SELECT id FROM _stream_records WHERE table_name = ?1 AND shard_id = ?2 \
             AND CAST(sequence_number AS INTEGER) > ?3 ORDER BY CAST(sequence_number AS INTEGER) ASC", &["t", "s", "1"]),
        ];
        for (query, params) in queries {
            let plan: Vec<String> = conn
                .prepare(&format!("EXPLAIN QUERY PLAN {query}"))
                .unwrap()
                .query_map(rusqlite::params_from_iter(params), |row| {
                    row.get::<_, String>(3)
                })
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            assert!(
                plan.iter()
                    .any(|step| step.contains("INDEX crm_local_stream")),
                "{query}: {plan:?}"
            );
        }
        std::fs::remove_dir_all(&dir).ok();
    }
}
