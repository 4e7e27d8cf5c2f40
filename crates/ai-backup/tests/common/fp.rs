//! Fingerprints: a full, deterministic text description of a database, one line per fact, so
//! that equal fingerprints mean "row by row and byte by byte the same": every table's row
//! count and a hash of its sorted rows, every sequence's state, and the definitions of views,
//! routines, triggers, events, columns, constraints, indexes and comments.

use super::db::{databases, my_rows, pg_rows};
use super::{Engine, Module};

/// Sorted lines describing a database (or several).
#[derive(Clone, PartialEq, Eq)]
pub struct Fingerprint(pub Vec<String>);

impl std::fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Fingerprint({} lines)", self.0.len())
    }
}

impl Fingerprint {
    fn new(mut lines: Vec<String>) -> Self {
        lines.sort();
        Fingerprint(lines)
    }

    /// The lines of `self` and `other` that differ, for people (bounded).
    pub fn diff(&self, other: &Fingerprint) -> String {
        let cut = |s: &str| -> String {
            if s.chars().count() > 300 {
                format!("{}…", s.chars().take(300).collect::<String>())
            } else {
                s.to_string()
            }
        };
        let mut out = String::new();
        let mut n = 0;
        for l in self.0.iter().filter(|l| !other.0.contains(l)) {
            if n < 40 {
                out += &format!("  - {}\n", cut(l));
            }
            n += 1;
        }
        for l in other.0.iter().filter(|l| !self.0.contains(l)) {
            if n < 40 {
                out += &format!("  + {}\n", cut(l));
            }
            n += 1;
        }
        if n > 40 {
            out += &format!("  ... {n} differing lines in all\n");
        }
        out
    }

    /// Lines starting with `prefix` (e.g. `data|public.settings|`).
    pub fn lines_with(&self, prefix: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|l| l.starts_with(prefix))
            .map(String::as_str)
            .collect()
    }
}

/// Panics with the differing lines (`-` expected, `+` actual) when they are not equal.
#[track_caller]
pub fn assert_same(expected: &Fingerprint, actual: &Fingerprint, what: &str) {
    if expected != actual {
        panic!("{what}: the fingerprints differ\n{}", expected.diff(actual));
    }
}

/// Panics when equal: the test's change must be visible, or the test could not fail.
#[track_caller]
pub fn assert_changed(before: &Fingerprint, after: &Fingerprint, what: &str) {
    assert!(
        before != after,
        "{what}: the change is not visible in the fingerprint"
    );
}

/// The fingerprint of the module's database.
pub fn module(m: Module) -> Fingerprint {
    database(m.engine(), m.db())
}

pub fn database(engine: Engine, db: &str) -> Fingerprint {
    match engine {
        Engine::Pg => postgres(db),
        Engine::My => mysql(db),
    }
}

/// The databases of the stack's modules (the AI-Server layout: dify and ragflow share the
/// servers). Other databases (scratch databases of concurrent work) are not looked at.
pub const MODULE_DATABASES: [(Engine, &str); 5] = [
    (Engine::Pg, "n8n_db"),
    (Engine::Pg, "ragflow_db"),
    (Engine::My, "oneapi_db"),
    (Engine::My, "dify_db"),
    (Engine::My, "ragflow_db"),
];

/// Every module database except `m`'s own: a restore of `m` must leave this unchanged. (That
/// it leaves no database of its own behind is checked with `db::leftovers`.)
pub fn others(m: Module) -> Fingerprint {
    let mut lines = Vec::new();
    for (engine, db) in MODULE_DATABASES {
        if engine == m.engine() && db == m.db() {
            continue;
        }
        let tag = format!("{engine:?}:{db}");
        if !databases(engine).iter().any(|d| d == db) {
            lines.push(format!("{tag}|missing"));
            continue;
        }
        lines.extend(
            database(engine, db)
                .0
                .into_iter()
                .map(|l| format!("{tag}|{l}")),
        );
    }
    Fingerprint::new(lines)
}

fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

const PG_SCHEMAS: &str = "SELECT oid, nspname FROM pg_namespace WHERE nspname NOT IN \
    ('pg_catalog', 'information_schema') AND nspname NOT LIKE 'pg\\_toast%' \
    AND nspname NOT LIKE 'pg\\_temp%'";

fn pg_catalog_sql() -> String {
    format!(
        r#"WITH sch AS ({PG_SCHEMAS}),
rel AS (
  SELECT c.*, n.nspname, quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS q
  FROM pg_class c JOIN sch n ON n.oid = c.relnamespace
  WHERE NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
)
SELECT 'database|' || pg_encoding_to_char(encoding) || '|' || datcollate || '|' || datctype FROM pg_database WHERE datname = current_database()
UNION ALL SELECT 'schema|' || nspname FROM sch
UNION ALL SELECT 'extension|' || extname || '|' || extversion FROM pg_extension
UNION ALL SELECT 'relation|' || q || '|' || relkind::text || '|' || relpersistence::text || '|' || pg_get_userbyid(relowner) || '|' || coalesce(relacl::text, '')
  FROM rel WHERE relkind IN ('r', 'p', 'v', 'm', 'S', 'f', 'c')
UNION ALL SELECT 'column|' || r.q || '|' || rank() OVER (PARTITION BY a.attrelid ORDER BY a.attnum) || '|' || a.attname || '|'
    || format_type(a.atttypid, a.atttypmod) || '|' || a.attnotnull || '|' || coalesce(pg_get_expr(ad.adbin, ad.adrelid), '')
    || '|' || a.attidentity::text || '|' || a.attgenerated::text || '|' || coalesce(co.collname, '')
  FROM pg_attribute a JOIN rel r ON r.oid = a.attrelid
  LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
  LEFT JOIN pg_collation co ON co.oid = a.attcollation AND a.attcollation <> 100
  WHERE a.attnum > 0 AND NOT a.attisdropped AND r.relkind IN ('r', 'p', 'v', 'm', 'f', 'c')
UNION ALL SELECT 'constraint|' || r.q || '|' || k.conname || '|' || pg_get_constraintdef(k.oid)
  FROM pg_constraint k JOIN rel r ON r.oid = k.conrelid
UNION ALL SELECT 'index|' || r.q || '|' || i.relname || '|' || pg_get_indexdef(i.oid)
  FROM pg_index x JOIN rel r ON r.oid = x.indrelid JOIN pg_class i ON i.oid = x.indexrelid
UNION ALL SELECT 'view|' || q || '|' || pg_get_viewdef(oid) FROM rel WHERE relkind IN ('v', 'm')
UNION ALL SELECT 'sequence|' || quote_ident(schemaname) || '.' || quote_ident(sequencename) || '|' || data_type::text || '|' || start_value
    || '|' || min_value || '|' || max_value || '|' || increment_by || '|' || cycle || '|' || cache_size
  FROM pg_sequences WHERE schemaname IN (SELECT nspname FROM sch)
UNION ALL SELECT 'function|' || quote_ident(n.nspname) || '.' || quote_ident(p.proname) || '(' || pg_get_function_identity_arguments(p.oid) || ')|'
    || pg_get_userbyid(p.proowner) || '|' || pg_get_functiondef(p.oid)
  FROM pg_proc p JOIN sch n ON n.oid = p.pronamespace
  WHERE p.prokind <> 'a' AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
UNION ALL SELECT 'trigger|' || r.q || '|' || t.tgname || '|' || t.tgenabled::text || '|' || pg_get_triggerdef(t.oid)
  FROM pg_trigger t JOIN rel r ON r.oid = t.tgrelid WHERE NOT t.tgisinternal
UNION ALL SELECT 'type|' || format_type(t.oid, NULL) || '|' || t.typtype::text || '|' || coalesce(format_type(NULLIF(t.typbasetype, 0), t.typtypmod), '')
    || '|' || coalesce((SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid), '')
  FROM pg_type t JOIN sch n ON n.oid = t.typnamespace
  WHERE t.typtype IN ('d', 'e', 'r') OR (t.typtype = 'c' AND EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = t.typrelid AND c.relkind = 'c'))
UNION ALL SELECT 'comment|' || pg_describe_object(classoid, objoid, objsubid) || '|' || description
  FROM pg_description WHERE objoid >= 16384;"#
    )
}

const PG_RELATIONS: &str = "WITH sch AS (SCHEMAS) \
    SELECT c.relkind::text || chr(31) || quote_ident(n.nspname) || '.' || quote_ident(c.relname) \
    FROM pg_class c JOIN sch n ON n.oid = c.relnamespace \
    WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S') AND NOT EXISTS (SELECT 1 FROM pg_depend d \
      WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e') ORDER BY 1;";

/// Postgres: catalog facts, then for every table (and view) its row count and the md5 of its
/// rows' text sorted, and for every sequence its last_value and is_called.
pub fn postgres(db: &str) -> Fingerprint {
    let mut lines = pg_rows(db, &pg_catalog_sql());
    let rels = pg_rows(db, &PG_RELATIONS.replace("SCHEMAS", PG_SCHEMAS));
    let mut parts = Vec::new();
    for r in &rels {
        let (kind, q) = r.split_once('\u{1f}').expect("kind and name");
        parts.push(if kind == "S" {
            format!(
                "SELECT 'seqval|' || {} || '|' || last_value || '|' || is_called FROM {q}",
                lit(q)
            )
        } else {
            format!(
                "SELECT 'data|' || {} || '|' || count(*) || '|' || coalesce(md5(string_agg(fp__r::text, E'\\n' \
                 ORDER BY fp__r::text COLLATE \"C\")), '-') FROM {q} AS fp__r",
                lit(q)
            )
        });
    }
    if !parts.is_empty() {
        lines.extend(pg_rows(db, &(parts.join("\nUNION ALL ") + ";")));
    }
    Fingerprint::new(lines)
}

/// MariaDB: definitions from information_schema and SHOW CREATE TABLE (which includes
/// AUTO_INCREMENT), and for every table and view its row count and an md5 over the sorted md5s
/// of its rows (each row: every column as hex, NULL marked).
pub fn mysql(db: &str) -> Fingerprint {
    let s = lit(db);
    let own = format!("`{}`.", db.replace('`', "``"));
    let catalog = format!(
        "SELECT CONCAT('database|', DEFAULT_CHARACTER_SET_NAME, '|', DEFAULT_COLLATION_NAME) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = {s};
SELECT CONCAT('view|', TABLE_NAME, '|', REPLACE(VIEW_DEFINITION, {own_lit}, ''), '|', CHECK_OPTION, '|', SECURITY_TYPE, '|', DEFINER)
  FROM information_schema.VIEWS WHERE TABLE_SCHEMA = {s};
SELECT CONCAT_WS('|', 'trigger', TRIGGER_NAME, EVENT_OBJECT_TABLE, ACTION_TIMING, EVENT_MANIPULATION, ACTION_ORDER, ACTION_STATEMENT, SQL_MODE, DEFINER)
  FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = {s};
SELECT CONCAT_WS('|', 'routine', ROUTINE_TYPE, ROUTINE_NAME, COALESCE(DTD_IDENTIFIER, '-'), COALESCE(ROUTINE_DEFINITION, 'NULL'), IS_DETERMINISTIC,
    SQL_DATA_ACCESS, SECURITY_TYPE, SQL_MODE, ROUTINE_COMMENT, DEFINER)
  FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = {s};
SELECT CONCAT_WS('|', 'param', SPECIFIC_NAME, ORDINAL_POSITION, COALESCE(PARAMETER_MODE, '-'), COALESCE(PARAMETER_NAME, '-'), DTD_IDENTIFIER)
  FROM information_schema.PARAMETERS WHERE SPECIFIC_SCHEMA = {s};
SELECT CONCAT_WS('|', 'event', EVENT_NAME, EVENT_DEFINITION, EVENT_TYPE, COALESCE(EXECUTE_AT, '-'), COALESCE(INTERVAL_VALUE, '-'),
    COALESCE(INTERVAL_FIELD, '-'), STATUS, ON_COMPLETION, SQL_MODE, COALESCE(STARTS, '-'), COALESCE(ENDS, '-'), EVENT_COMMENT, DEFINER)
  FROM information_schema.EVENTS WHERE EVENT_SCHEMA = {s};",
        own_lit = lit(&own)
    );
    let mut lines = my_rows(None, &catalog);
    // Tables and views with their columns, in order.
    let cols = my_rows(
        None,
        &format!(
            "SELECT c.TABLE_NAME, t.TABLE_TYPE, c.COLUMN_NAME, c.DATA_TYPE FROM information_schema.COLUMNS c \
             JOIN information_schema.TABLES t ON t.TABLE_SCHEMA = c.TABLE_SCHEMA AND t.TABLE_NAME = c.TABLE_NAME \
             WHERE c.TABLE_SCHEMA = {s} ORDER BY c.TABLE_NAME, c.ORDINAL_POSITION;"
        ),
    );
    let mut tables: Vec<(String, String, Vec<String>)> = Vec::new();
    for row in cols {
        let f: Vec<&str> = row.split('\t').collect();
        let (table, kind, col, ty) = (f[0], f[1], f[2], f[3]);
        let ident = format!("`{}`", col.replace('`', "``"));
        let expr = match ty {
            "float" | "double" | "decimal" | "real" => format!("HEX(CAST({ident} AS CHAR))"),
            _ => format!("HEX({ident})"),
        };
        let expr = format!("COALESCE({expr}, 'NULL')");
        match tables.last_mut() {
            Some((t, _, exprs)) if t == table => exprs.push(expr),
            _ => tables.push((table.to_string(), kind.to_string(), vec![expr])),
        }
    }
    if !tables.is_empty() {
        let mut script = String::from("SET SESSION group_concat_max_len = 4294967295;\n");
        for (table, kind, exprs) in &tables {
            let q = format!("`{}`.`{}`", db.replace('`', "``"), table.replace('`', "``"));
            script += &format!(
                "SELECT CONCAT('data|', {}, '|', COUNT(*), '|', COALESCE(MD5(GROUP_CONCAT(h ORDER BY h SEPARATOR '')), '-')) \
                 FROM (SELECT MD5(CONCAT_WS('|', {})) AS h FROM {q}) fp;\n",
                lit(table),
                exprs.join(", ")
            );
            if kind == "BASE TABLE" {
                script += &format!("SHOW CREATE TABLE {q};\n");
            }
        }
        for l in my_rows(None, &script) {
            lines.push(if l.starts_with("data|") {
                l
            } else {
                format!("create|{l}")
            });
        }
    }
    Fingerprint::new(lines)
}
