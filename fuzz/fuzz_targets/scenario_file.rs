//! Fuzzes the scenario file reader (`camproof_scenarios::scenario::Scenario::parse`) and
//! the plan every scenario must pass (`camproof_scenarios::plan::Plan`).
//!
//! Input: the file's text (invalid UTF-8 is replaced). Checked: reading never panics,
//! whatever the values (durations of 2^64 seconds, counts of 2^32, reboot storms that
//! overflow); an accepted scenario is a valid plan, and its `to_toml` reads back to the
//! same world.
#![no_main]

use camproof_scenarios::plan::Plan;
use camproof_scenarios::scenario::Scenario;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(scenario) = Scenario::parse("fuzz.toml", &text) else {
        return;
    };
    assert!(
        Plan::new(scenario.world.clone()).is_ok(),
        "an accepted scenario is a plan"
    );
    let again = scenario.to_toml();
    match Scenario::parse("again.toml", &again) {
        Ok(back) => assert_eq!(back, scenario, "to_toml does not read back:\n{again}"),
        Err(e) => panic!("to_toml wrote a file that is refused: {e}\n{again}"),
    }
});
