use actionlog::action_log;

#[action_log(skip(nope))]
fn a(x: i32) {
    let _ = x;
}

#[action_log(colour = "blue")]
fn b() {}

#[action_log(command = "")]
fn c() {}

fn main() {}
