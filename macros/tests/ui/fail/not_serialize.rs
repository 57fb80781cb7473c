use actionlog::action_log;

struct Connection;

#[action_log]
fn query(conn: Connection, table_key: &str) {
    let _ = (conn, table_key);
}

fn main() {}
