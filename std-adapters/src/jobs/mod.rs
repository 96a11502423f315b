//! Jobs: running one ([`runner`]: hooks, each destination in turn, archives of `archived` and
//! `compressed` jobs, retention, history), which run now ([`running`]), when they run
//! ([`schedule`]), and the [`daemon`] that runs them when due.

pub mod daemon;
pub mod runner;
pub mod running;
pub mod schedule;
