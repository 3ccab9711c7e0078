//! Reading the input: documents, lists, versions, kinds, and objects that do not fit.

use std::path::Path;

use super::{AVAILABILITY, loaded, run, slo, warning};
use crate::openslo::{ImportError, import};

#[test]
fn documents_and_lists_of_objects_are_read() {
    let docs = format!("{}{}", slo("a", &[]), slo("b", &[]));
    assert_eq!(loaded(&run(&docs)).slos.len(), 2);
    let list = format!(
        "- {{apiVersion: openslo/v1, kind: SLO, metadata: {{name: a}}, spec: {{service: api, \
         indicator: {AVAILABILITY}, timeWindow: [{{duration: 1d, isRolling: true}}], \
         budgetingMethod: Occurrences, objectives: [{{target: 0.9}}]}}}}\n"
    );
    let import = run(&list);
    assert_eq!(loaded(&import).slos[0].name, "a");
    assert_eq!(
        import.summary(),
        "openslo: 1 of 1 SLO mapped (1 slipstream SLO, 0 composites); 0 warnings"
    );
}

#[test]
fn input_that_is_not_openslo_v1_is_an_error() {
    let not = |yaml: &str| match import(yaml, Path::new("in.yaml")) {
        Err(ImportError::NotOpenSlo { message, .. }) => message,
        other => panic!("{other:?}"),
    };
    let alpha = slo("a", &[]).replace("openslo/v1", "openslo/v1alpha");
    assert!(not(&alpha).contains("`openslo/v1alpha` (the format Sloth reads) is not supported"));
    assert!(
        not("apiVersion: sloth.slok.dev/v1\nkind: PrometheusServiceLevel\n")
            .contains("sloth.slok.dev/v1")
    );
    assert!(not("").contains("no OpenSLO object"));
    assert!(matches!(
        import("slos: [", Path::new("in.yaml")),
        Err(ImportError::Syntax { .. })
    ));
}

#[test]
fn objects_that_do_not_fit_are_skipped_with_a_warning() {
    let yaml = [
        slo("a", &[]),
        slo("a", &[("objectives", "[{target: 0.5}]")]),
        slo("typo", &[("objectivs", "[{target: 0.5}]")]),
        "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm}\n".to_owned(),
        "---\napiVersion: openslo/v1\nkind: Budget\nmetadata: {name: b}\nspec: {}\n".to_owned(),
        "---\napiVersion: openslo/v1\nkind: SLI\nmetadata: {name: unused}\nspec: {}\n".to_owned(),
        "---\napiVersion: openslo/v1\nkind: DataSource\nmetadata: {name: kafka}\nspec: {type: \
         slipstream, connectionDetails: {brokers: 'k:9092'}}\n"
            .to_owned(),
    ]
    .concat();
    let import = run(&yaml);
    let config = loaded(&import);
    assert_eq!(config.slos.len(), 1);
    assert_eq!(config.slos[0].objective, 0.999, "the first `a` wins");
    assert!(
        warning(&import, "a", "metadata.name")
            .message
            .contains("same name")
    );
    let typo = warning(&import, "typo", "spec");
    assert!(
        typo.message.contains("unknown field `objectivs`") && typo.message.contains("skipped"),
        "{typo}"
    );
    assert!(
        warning(&import, "cm", "apiVersion")
            .message
            .contains("`v1` is not `openslo/v1`")
    );
    assert!(
        warning(&import, "b", "kind")
            .message
            .contains("not an OpenSLO v1 kind")
    );
    assert!(
        warning(&import, "unused", "metadata.name")
            .message
            .contains("not referenced")
    );
    assert_eq!((import.slos_read, import.slos_mapped), (3, 1));
    let text = import.warnings[0].to_string();
    assert!(
        text.starts_with("warning: SLO/a: metadata.name: "),
        "{text}"
    );
}
