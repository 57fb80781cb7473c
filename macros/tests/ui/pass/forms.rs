use actionlog::action_log;

struct Catalog;

impl Catalog {
    #[action_log(command = "_get_table_metadata", skip(raw))]
    fn view(&self, table_key: &str, raw: Vec<u8>) -> Result<String, std::fmt::Error> {
        let _ = raw;
        Ok(table_key.to_owned())
    }

    #[action_log(user = Some("ada@example.com"))]
    async fn search(&mut self, search_term: String) -> usize {
        search_term.len()
    }
}

#[action_log]
fn early_return(x: i32) -> Option<i32> {
    if x > 0 {
        return Some(x);
    }
    None
}

#[action_log]
fn uses_question_mark(s: &str) -> Result<i32, std::num::ParseIntError> {
    let v: i32 = s.parse()?;
    Ok(v * 2)
}

#[action_log]
async fn async_question_mark(s: String) -> Result<i32, std::num::ParseIntError> {
    let v: i32 = s.parse()?;
    Ok(v)
}

#[action_log(skip_output)]
fn returns_impl_trait(n: u32) -> impl Iterator<Item = u32> {
    0..n
}

#[action_log]
fn consumes(v: Vec<String>) -> usize {
    let owned = v;
    owned.len()
}

fn main() {
    let mut c = Catalog;
    let _ = c.view("k", vec![1]);
    let _ = c.search("s".into());
    let _ = early_return(1);
    let _ = uses_question_mark("2");
    let _ = async_question_mark("2".into());
    let _ = returns_impl_trait(3).count();
    let _ = consumes(vec![]);
}
