"""The Health DCAT-AP catalogue record (Turtle) of one published dataset version."""

from __future__ import annotations

from typing import Any

from rdflib import BNode, Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, OWL, RDF, RDFS, SKOS, XSD

from tre.db.datasets import Dataset, DatasetVersion

DCATAP = Namespace("http://data.europa.eu/r5r/")
HEALTHDCATAP = Namespace("http://healthdataportal.eu/ns/health#")
DQV = Namespace("http://www.w3.org/ns/dqv#")
DPV = Namespace("https://w3id.org/dpv#")
EHDS = URIRef("http://data.europa.eu/eli/reg/2025/327/oj")
GDPR = URIRef("http://data.europa.eu/eli/reg/2016/679/oj")
NON_PUBLIC = URIRef("http://publications.europa.eu/resource/authority/access-right/NON_PUBLIC")
DICOM_STANDARD = URIRef("https://www.dicomstandard.org/current")
DICOM_MEDIA_TYPE = URIRef("http://www.iana.org/assignments/media-types/application/dicom")
LEGAL_BASIS = URIRef("https://w3id.org/dpv#A9-2-j")
"""GDPR Art. 9(2)(j): processing for scientific research, the basis of EHDS secondary use."""

METRICS = {
    "patients": ("Number of patients", XSD.nonNegativeInteger),
    "studies": ("Number of imaging studies", XSD.nonNegativeInteger),
    "series": ("Number of image series", XSD.nonNegativeInteger),
    "instances": ("Number of DICOM instances", XSD.nonNegativeInteger),
    "linkageRate": ("Share of imaged patients with a clinical record", XSD.decimal),
    "clinicalCompleteness": ("Share of clinical cells filled in, percent", XSD.decimal),
    "qualityProblems": ("Quality problems at error severity", XSD.nonNegativeInteger),
}
"""The quality measurements a record carries: metric name, label and datatype."""


def namespace(base_uri: str) -> Namespace:
    """This node's own vocabulary (the synthetic flag, metrics) under ``base_uri``."""
    return Namespace(base_uri.rstrip("/") + "/ns#")


def dataset_uri(base_uri: str, dataset: str, version: str) -> URIRef:
    """The URI of one dataset version."""
    return URIRef(f"{base_uri.rstrip('/')}/datasets/{dataset}/{version}")


def dcat_record(dataset: Dataset, version: DatasetVersion, quality: dict[str, Any],
                base_uri: str) -> str:
    """The Turtle record of ``dataset`` at ``version`` with the quality summary of ``quality``.

    ``quality`` is the report ``tre.imaging.quality`` wrote (``quality.json``); an empty dict
    gives a record without measurements.
    """
    base = base_uri.rstrip("/")
    tre = namespace(base)
    graph = Graph()
    for prefix, ns in (("dcat", DCAT), ("dct", DCTERMS), ("foaf", FOAF), ("owl", OWL),
                       ("dcatap", DCATAP), ("healthdcatap", HEALTHDCATAP), ("dqv", DQV),
                       ("dpv", DPV), ("skos", SKOS), ("tre", tre)):
        graph.bind(prefix, ns)
    subject = dataset_uri(base, dataset.id, version.version)
    add = graph.add
    add((subject, RDF.type, DCAT.Dataset))
    add((subject, DCTERMS.title, Literal(dataset.title or dataset.id, lang="en")))
    add((subject, DCTERMS.description, Literal(
        dataset.description or f"Pseudonymised cancer imaging dataset {dataset.id}.", lang="en")))
    add((subject, DCTERMS.identifier, Literal(f"{dataset.id}@{version.version}")))
    add((subject, OWL.versionInfo, Literal(version.version)))
    add((subject, DCTERMS.issued, Literal(version.created_at.isoformat(), datatype=XSD.dateTime)))
    add((subject, DCTERMS.isVersionOf, URIRef(f"{base}/datasets/{dataset.id}")))

    holder = URIRef(f"{base}/agents/{_slug(dataset.data_holder or 'data-holder')}")
    add((holder, RDF.type, FOAF.Agent))
    add((holder, FOAF.name, Literal(dataset.data_holder or "unnamed data holder")))
    add((subject, DCTERMS.publisher, holder))
    add((subject, HEALTHDCATAP.hdab, URIRef(f"{base}/agents/hdab")))
    add((URIRef(f"{base}/agents/hdab"), RDF.type, FOAF.Agent))
    add((URIRef(f"{base}/agents/hdab"), FOAF.name, Literal("Health Data Access Body")))
    add((subject, DCATAP.applicableLegislation, EHDS))
    add((subject, DCATAP.applicableLegislation, GDPR))
    add((subject, DPV.hasLegalBasis, LEGAL_BASIS))
    add((subject, DCTERMS.accessRights, NON_PUBLIC))
    add((subject, DCTERMS.conformsTo, DICOM_STANDARD))
    add((DICOM_STANDARD, RDF.type, DCTERMS.Standard))
    add((DICOM_STANDARD, RDFS.label, Literal("DICOM")))
    add((subject, HEALTHDCATAP.personalData, Literal(not dataset.synthetic)))
    add((subject, tre.synthetic, Literal(dataset.synthetic)))

    distribution = URIRef(f"{subject}/distribution/dicom")
    add((subject, DCAT.distribution, distribution))
    add((distribution, RDF.type, DCAT.Distribution))
    add((distribution, DCTERMS.title, Literal("DICOM files in the secure processing environment",
                                              lang="en")))
    add((distribution, DCAT.mediaType, DICOM_MEDIA_TYPE))
    add((distribution, DCTERMS.conformsTo, DICOM_STANDARD))
    add((distribution, DCTERMS.accessRights, NON_PUBLIC))
    add((distribution, DCAT.accessURL, URIRef(f"{base}/datasets/{dataset.id}")))

    if quality:
        _add_quality(graph, subject, tre, quality)
    return graph.serialize(format="turtle")


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-") or "agent"


def _add_quality(graph: Graph, subject: URIRef, tre: Namespace, quality: dict[str, Any]) -> None:
    label = quality.get("label", {})
    values = {"patients": label.get("patients"), "studies": label.get("studies"),
              "series": label.get("series"), "instances": label.get("instances"),
              "linkageRate": label.get("linkage_rate"),
              "clinicalCompleteness": label.get("clinical_completeness"),
              "qualityProblems": label.get("errors")}
    if label.get("patients") is not None:
        graph.add((subject, HEALTHDCATAP.numberOfUniqueIndividuals,
                   Literal(int(label["patients"]), datatype=XSD.nonNegativeInteger)))
    if label.get("instances") is not None:
        graph.add((subject, HEALTHDCATAP.numberOfRecords,
                   Literal(int(label["instances"]), datatype=XSD.nonNegativeInteger)))
    for name, value in values.items():
        if value is None:
            continue
        text, datatype = METRICS[name]
        metric = tre[name]
        graph.add((metric, RDF.type, DQV.Metric))
        graph.add((metric, SKOS.definition, Literal(text, lang="en")))
        measurement = BNode()
        graph.add((subject, DQV.hasQualityMeasurement, measurement))
        graph.add((measurement, RDF.type, DQV.QualityMeasurement))
        graph.add((measurement, DQV.isMeasurementOf, metric))
        graph.add((measurement, DQV.computedOn, subject))
        literal = Literal(int(value), datatype=datatype) if datatype == XSD.nonNegativeInteger \
            else Literal(str(value), datatype=datatype)
        graph.add((measurement, DQV.value, literal))
