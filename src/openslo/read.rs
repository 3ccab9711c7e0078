//! YAML text → the OpenSLO objects it holds, by kind. An object that does not fit the
//! model is a warning naming it, and is skipped; only a file with no OpenSLO v1 object at
//! all is an error.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;

use super::{
    API_VERSION, AlertConditionSpec, AlertNotificationTargetSpec, AlertPolicySpec, DataSourceSpec,
    Object, ServiceSpec, SliSpec, SloSpec, Warning,
};

/// Every object of the input by kind, named ones by name (first of a name wins).
#[derive(Debug, Default)]
pub struct Documents {
    /// Every `kind: SLO` object of the input, read or skipped.
    pub slo_objects: usize,
    pub slos: Vec<Object<SloSpec>>,
    pub slis: BTreeMap<String, Object<SliSpec>>,
    pub policies: BTreeMap<String, Object<AlertPolicySpec>>,
    pub conditions: BTreeMap<String, Object<AlertConditionSpec>>,
    pub data_sources: BTreeMap<String, Object<DataSourceSpec>>,
    pub targets: BTreeMap<String, Object<AlertNotificationTargetSpec>>,
    pub services: BTreeMap<String, Object<ServiceSpec>>,
    /// What reading found: objects skipped and why.
    pub warnings: Vec<Warning>,
}

pub enum ReadError {
    Syntax(String),
    NotOpenSlo(String),
}

/// Splits the YAML into objects (documents separated by `---`, or a list of objects in
/// one document) and deserialises each by its `kind`.
pub fn read(text: &str) -> Result<Documents, ReadError> {
    let values: Vec<serde_json::Value> =
        serde_saphyr::from_multiple(text).map_err(|e| ReadError::Syntax(e.to_string()))?;
    let objects: Vec<serde_json::Value> = values
        .into_iter()
        .flat_map(|v| match v {
            serde_json::Value::Array(list) => list,
            serde_json::Value::Null => Vec::new(),
            other => vec![other],
        })
        .collect();
    let mut docs = Documents::default();
    let (mut v1, mut versions) = (0, Vec::new());
    for (i, value) in objects.into_iter().enumerate() {
        let text_at = |key: &str| value.get(key).and_then(|v| v.as_str()).map(str::to_owned);
        let (version, kind) = (text_at("apiVersion"), text_at("kind").unwrap_or_default());
        let kind = kind.as_str();
        let name = value
            .pointer("/metadata/name")
            .and_then(|v| v.as_str())
            .map_or_else(|| format!("(object {i})"), str::to_owned);
        let warn = |field: &str, message: String| Warning {
            kind: if kind.is_empty() { "(no kind)" } else { kind }.to_owned(),
            name: name.clone(),
            field: field.to_owned(),
            message,
        };
        if version.as_deref() != Some(API_VERSION) {
            let shown = version.unwrap_or_else(|| "(none)".to_owned());
            docs.warnings.push(warn(
                "apiVersion",
                format!("`{shown}` is not `{API_VERSION}`; object skipped"),
            ));
            versions.push(shown);
            continue;
        }
        v1 += 1;
        let result = match kind {
            "SLO" => {
                docs.slo_objects += 1;
                add(&mut docs.slos, value)
            }
            "SLI" => insert(&mut docs.slis, value),
            "AlertPolicy" => insert(&mut docs.policies, value),
            "AlertCondition" => insert(&mut docs.conditions, value),
            "DataSource" => insert(&mut docs.data_sources, value),
            "AlertNotificationTarget" => insert(&mut docs.targets, value),
            "Service" => insert(&mut docs.services, value),
            _ => Err((
                "kind".to_owned(),
                format!(
                    "`{kind}` is not an OpenSLO v1 kind (SLO, SLI, AlertPolicy, AlertCondition, \
                     AlertNotificationTarget, DataSource, Service); object skipped"
                ),
            )),
        };
        if let Err((field, message)) = result {
            docs.warnings.push(warn(&field, message));
        }
    }
    if v1 == 0 {
        versions.dedup();
        let alpha = versions.iter().any(|v| v == "openslo/v1alpha");
        return Err(ReadError::NotOpenSlo(if versions.is_empty() {
            "no OpenSLO object found: expected YAML documents with `apiVersion: openslo/v1`"
                .to_owned()
        } else if alpha {
            "`openslo/v1alpha` (the format Sloth reads) is not supported: rewrite the objects \
             as `openslo/v1` (timeWindows → timeWindow, ratioMetrics → an SLI ratioMetric; \
             docs/openslo.md)"
                .to_owned()
        } else {
            format!(
                "no `{API_VERSION}` object found (apiVersion {}); only OpenSLO v1 is read",
                versions.join(", ")
            )
        }));
    }
    Ok(docs)
}

type Refused = (String, String);

fn parse<S: DeserializeOwned>(value: serde_json::Value) -> Result<Object<S>, Refused> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let at = e.path().to_string();
        (
            if at == "." { "(object)".into() } else { at },
            format!("{}; object skipped", e.into_inner()),
        )
    })
}

fn add<S: DeserializeOwned>(
    list: &mut Vec<Object<S>>,
    value: serde_json::Value,
) -> Result<(), Refused> {
    let object = parse(value)?;
    if list.iter().any(|o| o.metadata.name == object.metadata.name) {
        return Err(duplicate());
    }
    list.push(object);
    Ok(())
}

fn insert<S: DeserializeOwned>(
    map: &mut BTreeMap<String, Object<S>>,
    value: serde_json::Value,
) -> Result<(), Refused> {
    let object = parse(value)?;
    if map.contains_key(&object.metadata.name) {
        return Err(duplicate());
    }
    map.insert(object.metadata.name.clone(), object);
    Ok(())
}

fn duplicate() -> Refused {
    (
        "metadata.name".into(),
        "another object of this kind has the same name; the first one is used, this one skipped"
            .into(),
    )
}
