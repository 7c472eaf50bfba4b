"""The Health DCAT-AP record parses and carries the triples a catalogue harvests."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from rdflib import Graph, Literal, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, OWL, RDF, XSD

from tre.db.datasets import Dataset, DatasetVersion
from tre.imaging.dcat import (
    DCATAP,
    DQV,
    EHDS,
    GDPR,
    HEALTHDCATAP,
    NON_PUBLIC,
    dataset_uri,
    dcat_record,
    namespace,
)
from tre.imaging.quality import write_report
from tre.imaging.synth import generate

BASE = "https://tre.example.org/"
WHEN = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def quality(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("dcat") / "corpus"
    generate(out, patients=3, studies=1, series=1, slices=4, size=16, seed=9)
    return write_report(out)


def _graph(synthetic: bool, quality: dict[str, Any]) -> tuple[Graph, URIRef]:
    dataset = Dataset("lung-ct", "Lung CT cohort", "Staging CTs of lung cancer patients.",
                      "St Aldhelm University Hospital", synthetic, WHEN)
    version = DatasetVersion("lung-ct", "0123456789abcdef", "/srv/x", WHEN)
    text = dcat_record(dataset, version, quality, BASE)
    graph = Graph()
    graph.parse(data=text, format="turtle")
    return graph, dataset_uri(BASE, "lung-ct", "0123456789abcdef")


def test_record_describes_the_version_and_its_legal_frame(quality: dict[str, Any]) -> None:
    graph, subject = _graph(False, quality)
    assert subject == URIRef("https://tre.example.org/datasets/lung-ct/0123456789abcdef")
    assert set(graph.subjects(RDF.type, DCAT.Dataset)) == {subject}
    assert graph.value(subject, DCTERMS.identifier) == Literal("lung-ct@0123456789abcdef")
    assert graph.value(subject, OWL.versionInfo) == Literal("0123456789abcdef")
    assert graph.value(subject, DCTERMS.title) == Literal("Lung CT cohort", lang="en")
    assert str(graph.value(subject, DCTERMS.description)).startswith("Staging CTs")
    assert set(graph.objects(subject, DCATAP.applicableLegislation)) == {EHDS, GDPR}
    assert URIRef("http://data.europa.eu/eli/reg/2025/327/oj") == EHDS
    assert graph.value(subject, DCTERMS.accessRights) == NON_PUBLIC
    publisher = graph.value(subject, DCTERMS.publisher)
    assert (publisher, RDF.type, FOAF.Agent) in graph
    assert graph.value(publisher, FOAF.name) == Literal("St Aldhelm University Hospital")
    hdab = graph.value(subject, HEALTHDCATAP.hdab)
    assert (hdab, RDF.type, FOAF.Agent) in graph
    distribution = graph.value(subject, DCAT.distribution)
    assert (distribution, RDF.type, DCAT.Distribution) in graph
    assert "dicom" in str(graph.value(subject, DCTERMS.conformsTo)).lower()
    assert graph.value(distribution, DCTERMS.conformsTo) == graph.value(subject,
                                                                       DCTERMS.conformsTo)
    assert graph.value(subject, HEALTHDCATAP.numberOfUniqueIndividuals) == Literal(
        3, datatype=XSD.nonNegativeInteger)
    assert graph.value(subject, namespace(BASE).synthetic) == Literal(False)


def test_quality_measurements_come_from_the_report(quality: dict[str, Any]) -> None:
    graph, subject = _graph(True, quality)
    rows = graph.query("""
        SELECT ?metric ?value WHERE {
            ?dataset dqv:hasQualityMeasurement ?m .
            ?m a dqv:QualityMeasurement ; dqv:isMeasurementOf ?metric ; dqv:value ?value .
        }""", initNs={"dqv": DQV}, initBindings={"dataset": subject})
    tre = namespace(BASE)
    measured = {str(metric).removeprefix(str(tre)): float(value.toPython())
                for metric, value in rows}
    label = quality["label"]
    assert measured == {
        "patients": 3, "studies": 3, "series": 3, "instances": 12,
        "linkageRate": pytest.approx(label["linkage_rate"]),
        "clinicalCompleteness": pytest.approx(label["clinical_completeness"]),
        "qualityProblems": 0,
    }
    assert graph.value(subject, tre.synthetic) == Literal(True)
    assert graph.value(subject, HEALTHDCATAP.personalData) == Literal(False)


def test_record_without_a_report_has_no_measurements(tmp_path: Path) -> None:
    graph, subject = _graph(False, {})
    assert list(graph.objects(subject, DQV.hasQualityMeasurement)) == []
    assert (subject, RDF.type, DCAT.Dataset) in graph
