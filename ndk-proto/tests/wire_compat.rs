//! Proves our hand-written NDK subset is wire-compatible with the official
//! NDK v0.5.0: every package, service, method, message, field (name, number,
//! type, label, oneof) and enum value we define must exist, identical, in
//! the official descriptors from the Python package `srlinux-ndk==0.5.0`.
//!
//! The official descriptors come from the Python package installed in the
//! repo's venv by scripts/bootstrap.sh; without it this test fails and says
//! so, rather than passing untested.

use std::collections::BTreeMap;

// Dependencies of the library, not of this test.
use std::path::PathBuf;
use std::process::Command;
use tonic as _;
use tonic_prost as _;

use prost::Message;
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{DescriptorProto, EnumDescriptorProto, FileDescriptorSet, ServiceDescriptorProto};

fn official() -> FileDescriptorSet {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let python = repo.join(".venv/bin/python");
    let script = repo.join("ndk-proto/tests/official_descriptors.py");
    let output = Command::new(&python).arg(&script).output().unwrap_or_else(|e| {
        panic!("cannot run {}: {e} (scripts/bootstrap.sh creates the venv)", python.display())
    });
    assert!(
        output.status.success(),
        "the official descriptors could not be loaded (is srlinux-ndk==0.5.0 in .venv? \
         scripts/bootstrap.sh installs it):\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    FileDescriptorSet::decode(output.stdout.as_slice()).expect("official descriptors decode")
}

fn ours() -> FileDescriptorSet {
    FileDescriptorSet::decode(ndk_proto::FILE_DESCRIPTOR_SET).expect("our descriptors decode")
}

/// Every message, enum and service of a set by fully qualified name
/// (".srlinux.sdk.Outer.Inner"), with nested types flattened.
#[derive(Default)]
struct Index {
    messages: BTreeMap<String, DescriptorProto>,
    enums: BTreeMap<String, EnumDescriptorProto>,
    services: BTreeMap<String, ServiceDescriptorProto>,
    packages: Vec<String>,
}

impl Index {
    fn of(set: &FileDescriptorSet) -> Self {
        let mut index = Index::default();
        for file in &set.file {
            let package = file.package().to_string();
            index.packages.push(package.clone());
            let scope = format!(".{package}");
            for message in &file.message_type {
                index.add_message(&scope, message);
            }
            for e in &file.enum_type {
                index.enums.insert(format!("{scope}.{}", e.name()), e.clone());
            }
            for service in &file.service {
                index.services.insert(format!("{scope}.{}", service.name()), service.clone());
            }
        }
        index
    }

    fn add_message(&mut self, scope: &str, message: &DescriptorProto) {
        let name = format!("{scope}.{}", message.name());
        for nested in &message.nested_type {
            self.add_message(&name, nested);
        }
        for e in &message.enum_type {
            self.enums.insert(format!("{name}.{}", e.name()), e.clone());
        }
        self.messages.insert(name, message.clone());
    }
}

/// What must agree about a field for the bytes on the wire (and the JSON
/// and generated names) to agree.
fn field_signature(message: &DescriptorProto, field: &prost_types::FieldDescriptorProto) -> String {
    let oneof = field
        .oneof_index
        .and_then(|i| message.oneof_decl.get(usize::try_from(i).ok()?))
        .map(|o| o.name().to_string());
    format!(
        "{} = {} : {:?} {:?} {} oneof={:?} proto3_optional={}",
        field.name(),
        field.number(),
        Label::try_from(field.label.unwrap_or(0)).ok(),
        Type::try_from(field.r#type.unwrap_or(0)).ok(),
        field.type_name(),
        oneof,
        field.proto3_optional(),
    )
}

/// Every difference between our definitions and the official ones, and how
/// many of each kind of element were compared.
fn compare(ours: &Index, official: &Index) -> (Vec<String>, BTreeMap<&'static str, usize>) {
    let mut problems = Vec::new();
    let mut checked = BTreeMap::<&str, usize>::new();

    for package in &ours.packages {
        if !official.packages.contains(package) {
            problems.push(format!("package {package} is not an NDK package"));
        }
    }

    for (name, message) in &ours.messages {
        let Some(theirs) = official.messages.get(name) else {
            problems.push(format!("message {name} does not exist in NDK v0.5.0"));
            continue;
        };
        *checked.entry("messages").or_default() += 1;
        for field in &message.field {
            *checked.entry("fields").or_default() += 1;
            let Some(their_field) = theirs.field.iter().find(|f| f.number() == field.number()) else {
                problems.push(format!("{name}: field {} = {} does not exist", field.name(), field.number()));
                continue;
            };
            let (a, b) = (field_signature(message, field), field_signature(theirs, their_field));
            if a != b {
                problems.push(format!("{name}: ours `{a}`, official `{b}`"));
            }
        }
        // Oneof members we leave out are fine (prost skips unknown fields);
        // the ones we define carry their oneof's name in the field check
        // above, and every oneof we declare must exist.
        for oneof in &message.oneof_decl {
            if !theirs.oneof_decl.iter().any(|o| o.name() == oneof.name()) {
                problems.push(format!("{name}: oneof {} does not exist", oneof.name()));
            }
        }
    }

    for (name, e) in &ours.enums {
        let Some(theirs) = official.enums.get(name) else {
            problems.push(format!("enum {name} does not exist in NDK v0.5.0"));
            continue;
        };
        *checked.entry("enums").or_default() += 1;
        for value in &e.value {
            *checked.entry("enum values").or_default() += 1;
            match theirs.value.iter().find(|v| v.name() == value.name()) {
                Some(v) if v.number() == value.number() => {}
                Some(v) => problems.push(format!(
                    "{name}.{}: ours = {}, official = {}",
                    value.name(),
                    value.number(),
                    v.number()
                )),
                None => problems.push(format!("{name}.{} does not exist", value.name())),
            }
        }
    }

    for (name, service) in &ours.services {
        let Some(theirs) = official.services.get(name) else {
            problems.push(format!("service {name} does not exist in NDK v0.5.0"));
            continue;
        };
        *checked.entry("services").or_default() += 1;
        for method in &service.method {
            *checked.entry("methods").or_default() += 1;
            let Some(m) = theirs.method.iter().find(|m| m.name() == method.name()) else {
                problems.push(format!("{name}/{} does not exist", method.name()));
                continue;
            };
            let sig = |m: &prost_types::MethodDescriptorProto| {
                format!(
                    "({}{}) -> ({}{})",
                    if m.client_streaming() { "stream " } else { "" },
                    m.input_type(),
                    if m.server_streaming() { "stream " } else { "" },
                    m.output_type()
                )
            };
            if sig(method) != sig(m) {
                problems.push(format!("{name}/{}: ours {}, official {}", method.name(), sig(method), sig(m)));
            }
        }
    }

    (problems, checked)
}

#[test]
fn our_ndk_subset_matches_the_official_v0_5_0_descriptors() {
    let (problems, checked) = compare(&Index::of(&ours()), &Index::of(&official()));
    assert!(problems.is_empty(), "our NDK protos differ from NDK v0.5.0:\n  {}", problems.join("\n  "));
    // Guards against comparing nothing (an empty descriptor set would pass).
    assert!(checked.get("fields").copied().unwrap_or(0) > 50, "too little compared: {checked:?}");
    println!("compared with NDK v0.5.0: {checked:?}");
}

/// The comparison itself must catch differences: a renumbered field, a
/// renamed enum value and a method with the wrong response type, each made in
/// a copy of our descriptors, are all reported.
#[test]
fn the_comparison_catches_wire_differences() {
    let mut set = ours();
    for file in &mut set.file {
        for message in &mut file.message_type {
            if message.name() == "ConfigKey" {
                message.field[2].number = Some(7);
            }
        }
        for e in &mut file.enum_type {
            if e.name() == "BfdSessionStatus" {
                e.value[4].name = Some("BFD_SESSION_STATUS_RUNNING".into());
            }
        }
        for service in &mut file.service {
            if service.name() == "SdkMgrTelemetryService" {
                service.method[1].output_type = Some(".srlinux.sdk.TelemetryUpdateResponse".into());
            }
        }
    }
    let (problems, _) = compare(&Index::of(&set), &Index::of(&official()));
    let joined = problems.join("\n");
    assert_eq!(problems.len(), 3, "{joined}");
    assert!(joined.contains("ConfigKey: field js_path_with_keys = 7 does not exist"), "{joined}");
    assert!(joined.contains("BfdSessionStatus.BFD_SESSION_STATUS_RUNNING does not exist"), "{joined}");
    assert!(joined.contains("SdkMgrTelemetryService/TelemetryDelete"), "{joined}");
}
