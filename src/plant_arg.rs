//! `--plant` of `camproof run` and `camproof sweep`.

use camproof_scenarios::plants::Plant;
use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};

/// `--plant`: the flag of a [`Plant`], each listed with its help.
pub fn plants() -> impl TypedValueParser<Value = Plant> {
    let values = Plant::ALL.map(|p| PossibleValue::new(p.flag()).help(p.help()));
    PossibleValuesParser::new(values).try_map(|s| Plant::from_flag(&s).ok_or("unknown plant"))
}
