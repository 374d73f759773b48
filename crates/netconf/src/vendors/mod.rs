//! One parser per syntax family.

pub mod cisco;
pub mod fortios;
pub mod yamaha;
