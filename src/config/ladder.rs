//! `objective_ladder`: the objectives a service climbs one step at a time, from the one
//! its measured SLI meets today to the next (docs/budgets.md). Pure checks; the baseline
//! math that reads the ladder is in [`crate::report::baseline`].

use super::percent::Percent;

/// The ladder when the config names none, in percent.
pub const DEFAULT_LADDER: [f64; 9] = [90.0, 95.0, 98.0, 99.0, 99.5, 99.9, 99.95, 99.99, 99.999];

/// Steps strictly ascending, each above 0 % and below 100 %.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectiveLadder {
    steps: Vec<Percent>,
}

impl ObjectiveLadder {
    pub fn steps(&self) -> &[Percent] {
        &self.steps
    }
}

impl Default for ObjectiveLadder {
    fn default() -> Self {
        build(None).expect("the default ladder is valid")
    }
}

/// Checks `objective_ladder`: `(field path, message)` on error.
pub fn build(raw: Option<&[f64]>) -> Result<ObjectiveLadder, (String, String)> {
    let list = raw.unwrap_or(&DEFAULT_LADDER);
    if list.is_empty() {
        return Err((
            "objective_ladder".into(),
            "list at least one objective, or leave the key out for the default ladder".into(),
        ));
    }
    let mut steps: Vec<Percent> = Vec::with_capacity(list.len());
    for (i, &value) in list.iter().enumerate() {
        let at = || format!("objective_ladder[{i}]");
        let step = Percent::parse(value).map_err(|m| (at(), m))?;
        if step <= Percent::ZERO || step >= Percent::HUNDRED {
            return Err((
                at(),
                format!("{value} is not a percentage above 0 and below 100, e.g. 99.9"),
            ));
        }
        if let Some(&last) = steps.last()
            && step <= last
        {
            return Err((
                at(),
                format!(
                    "{value} does not follow {last}: list the steps in strictly ascending order"
                ),
            ));
        }
        steps.push(step);
    }
    Ok(ObjectiveLadder { steps })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_the_documented_ladder() {
        let ladder = ObjectiveLadder::default();
        let text: Vec<String> = ladder.steps().iter().map(Percent::to_string).collect();
        assert_eq!(
            text,
            [
                "90", "95", "98", "99", "99.5", "99.9", "99.95", "99.99", "99.999"
            ]
        );
    }

    #[test]
    fn refuses_what_is_not_a_strictly_ascending_list_of_percentages() {
        let fail = |list: &[f64]| build(Some(list)).unwrap_err();
        assert_eq!(fail(&[]).0, "objective_ladder");
        for (list, field, words) in [
            (
                &[99.0, 99.0][..],
                "objective_ladder[1]",
                "strictly ascending",
            ),
            (&[99.9, 99.0], "objective_ladder[1]", "strictly ascending"),
            (&[0.0], "objective_ladder[0]", "above 0 and below 100"),
            (
                &[99.0, 100.0],
                "objective_ladder[1]",
                "above 0 and below 100",
            ),
            (&[f64::NAN], "objective_ladder[0]", "not a percentage"),
            (&[99.99999999999], "objective_ladder[0]", "decimal places"),
        ] {
            let (f, m) = fail(list);
            assert_eq!(f, field, "{list:?}");
            assert!(m.contains(words), "{list:?}: {m}");
        }
        assert_eq!(build(Some(&[50.0, 99.25])).unwrap().steps().len(), 2);
    }
}
