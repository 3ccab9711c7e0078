//! Composite SLOs → generated components and a `composites` entry; the check of that
//! section until the composites branch is merged.

use super::{AVAILABILITY, LATENCY, output, refused, run, slo, warning};
use crate::openslo::validate_output;

#[test]
fn composites_scale_weights_and_generate_their_components() {
    let objectives = format!(
        "[{{displayName: Cart, target: 0.995, compositeWeight: 0.5, indicator: {AVAILABILITY}}}, \
         {{displayName: Pay, target: 0.995, compositeWeight: 1.5, op: lte, value: 400, indicator: {LATENCY}}}]"
    );
    let import = run(&slo(
        "journey",
        &[("indicator", ""), ("objectives", &objectives)],
    ));
    validate_output(import.yaml.as_deref().unwrap()).unwrap();
    let out = output(&import);
    assert_eq!(
        out["composites"],
        serde_json::json!([{"name": "journey", "objective": 99.5, "window": "28d",
            "components": [{"slo": "journey-cart", "weight": 1}, {"slo": "journey-pay", "weight": 3}]}])
    );
    assert_eq!(
        out["slos"][1]["indicator"],
        serde_json::json!({"type": "latency", "threshold_ms": 400.0})
    );
    assert_eq!(
        (
            import.slos_mapped,
            import.slipstream_slos,
            import.composites
        ),
        (1, 2, 1)
    );
}

#[test]
fn composite_refusals_and_objective() {
    let two = |w1: &str, t2: &str| {
        format!(
            "[{{target: 0.99, compositeWeight: {w1}, indicator: {AVAILABILITY}}}, \
             {{target: {t2}, indicatorRef: missing-or-not}}]"
        )
    };
    let sli = "---\napiVersion: openslo/v1\nkind: SLI\nmetadata: {name: missing-or-not}\nspec: \
               {ratioMetric: {bad: {metricSource: {type: slipstream, spec: {query: 'status >= 500'}}}, \
               total: {metricSource: {type: slipstream, spec: {service: web}}}}}\n";
    let journey = |objectives: &str| slo("j", &[("indicator", ""), ("objectives", objectives)]);
    let import = run(&format!("{sli}{}", journey(&two("1", "0.9"))));
    assert_eq!(output(&import)["composites"][0]["objective"], 90.0);
    assert!(
        warning(&import, "j", "objectives[*].target")
            .message
            .contains("the lowest, 90")
    );
    let annotated = journey(&two("1", "0.9")).replace(
        "metadata: {name: j}",
        "metadata: {name: j, annotations: {slipstream.dev/objective: '95'}}",
    );
    assert_eq!(
        output(&run(&format!("{sli}{annotated}")))["composites"][0]["objective"],
        95.0
    );
    refused(
        &format!("{sli}{}", journey(&two("0.3333333333333333", "0.99"))),
        "j",
        "compositeWeight",
        "whole numbers",
    );
    refused(
        &journey(&two("1", "0.99")),
        "j",
        "objectives[1].indicatorRef",
        "not in the input",
    );
    let both = slo("j", &[("objectives", &two("1", "0.99"))]);
    refused(
        &format!("{sli}{both}"),
        "j",
        "spec.indicator",
        "on its objectives",
    );
}

#[test]
fn whole_weights_are_exact_or_none() {
    use crate::openslo::composite::whole_weights;
    assert_eq!(whole_weights(&[0.5, 1.5]), Some(vec![1, 3]));
    assert_eq!(whole_weights(&[1.0, 1.0, 1.0]), Some(vec![1, 1, 1]));
    assert_eq!(whole_weights(&[0.1, 0.25]), Some(vec![2, 5]));
    assert_eq!(whole_weights(&[2.0, 4.0, 6.0]), Some(vec![1, 2, 3]));
    assert_eq!(whole_weights(&[100.0, 0.0001]), Some(vec![1_000_000, 1]));
    assert_eq!(whole_weights(&[1.0, 1.0 / 3.0]), None);
    assert_eq!(whole_weights(&[1000.0, 0.0001]), None);
}

#[test]
fn validate_output_checks_composites_until_the_merge() {
    let base = "slos:\n- {name: a, service: x, indicator: {type: availability}, objective: 99, window: 7d}\n";
    let ok = format!(
        "{base}composites:\n- {{name: c, objective: 99, window: 7d, components: [{{slo: a}}]}}\n"
    );
    validate_output(&ok).unwrap();
    for (bad, words) in [
        ("[{slo: b}]", "not an SLO"),
        ("[{slo: a, weight: 0}]", ">= 1"),
        ("[]", "no component"),
        ("[{slo: a, weight: 1.5}]", "composites[0]"),
    ] {
        let text = format!(
            "{base}composites:\n- {{name: c, objective: 99, window: 7d, components: {bad}}}\n"
        );
        let e = validate_output(&text).unwrap_err();
        assert!(e.contains(words), "{bad}: {e}");
    }
    let e = validate_output(&format!(
        "{base}composites:\n- {{name: a, objective: 99, window: 7d, components: [{{slo: a}}]}}\n"
    ))
    .unwrap_err();
    assert!(e.contains("already"), "{e}");
    let e = validate_output(&format!("{base}composites:\n- {{name: c, objective: 99, window: 7d, components: [{{slo: a}}], extra: 1}}\n")).unwrap_err();
    assert!(e.contains("unknown field"), "{e}");
}
