//! One module per subcommand: its clap `Args` and its `run`.

pub(crate) mod ballista;
pub(crate) mod decode;
pub(crate) mod demo;
pub(crate) mod generate;
pub(crate) mod kpi;
#[cfg(feature = "kafka")]
pub(crate) mod load;
pub(crate) mod serve;
#[cfg(feature = "kafka")]
pub(crate) mod tail;
