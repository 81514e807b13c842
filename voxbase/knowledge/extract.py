"""Text out of uploaded files: plain text, PDF (pypdf), DOCX (python-docx), images (OCR).

OCR uses rapidocr-onnxruntime (the `ocr` extra), whose detection and recognition models ship
inside the package: nothing is downloaded at run time.
"""

from __future__ import annotations

import io
import threading
import zipfile
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from voxbase.core.extras import EXTRAS

FILE_TYPES = {
    "txt": "text/plain",
    "md": "text/markdown",
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "png": "image/png",
    "jpg": "image/jpeg",
}
EXTENSIONS = {
    "txt": "txt",
    "md": "md",
    "markdown": "md",
    "pdf": "pdf",
    "docx": "docx",
    "png": "png",
    "jpg": "jpg",
    "jpeg": "jpg",
}


IMAGE_TYPES = frozenset({"png", "jpg"})  # read by OCR: the `ocr` extra


class ExtractionError(Exception):
    pass


@dataclass(frozen=True)
class Extraction:
    text: str
    page_count: int | None = None
    ocr_confidence: Decimal | None = None


def sniff(file_type: str, data: bytes) -> bool:
    """Does the content look like the type its name claims?"""
    if file_type == "pdf":
        return data[:1024].lstrip().startswith(b"%PDF-")
    if file_type == "png":
        return data.startswith(b"\x89PNG\r\n\x1a\n")
    if file_type == "jpg":
        return data.startswith(b"\xff\xd8\xff")
    if file_type == "docx":
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                return "word/document.xml" in archive.namelist()
        except zipfile.BadZipFile:
            return False
    try:
        data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return False
    return b"\x00" not in data


def _pdf(data: bytes) -> Extraction:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        pages = [page.extract_text() or "" for page in reader.pages]
    except (PdfReadError, ValueError, KeyError) as exc:
        raise ExtractionError(f"unreadable PDF: {exc}") from exc
    return Extraction("\n\n".join(p.strip() for p in pages if p.strip()), page_count=len(pages))


def _docx(data: bytes) -> Extraction:
    import docx

    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # python-docx raises several unrelated types
        raise ExtractionError(f"unreadable DOCX: {exc}") from exc
    parts = [p.text for p in document.paragraphs if p.text.strip()]
    for table in document.tables:
        for row in table.rows:
            cells = [cell.text.strip() for cell in row.cells]
            if any(cells):
                parts.append(" | ".join(cells))
    return Extraction("\n".join(parts))


_ocr_engine: Any = None
_ocr_lock = threading.Lock()


def _ocr(data: bytes) -> Extraction:
    global _ocr_engine
    with _ocr_lock:  # the engine is not documented as thread-safe; load once, run one at a time
        if _ocr_engine is None:
            try:
                from rapidocr_onnxruntime import RapidOCR
            except ImportError as exc:
                raise ExtractionError(EXTRAS["ocr"].message()) from exc

            _ocr_engine = RapidOCR()
        try:
            result, _ = _ocr_engine(data)
        except Exception as exc:
            raise ExtractionError(f"unreadable image: {exc}") from exc
    if not result:
        return Extraction("", ocr_confidence=Decimal("0.00"))
    boxes = []
    for box, text, score in result:
        ys = [point[1] for point in box]
        boxes.append((min(ys), max(ys), min(point[0] for point in box), text, float(score)))
    boxes.sort()
    lines: list[list[tuple[float, str]]] = []
    bottom = None
    for top, low, left, text, _score in boxes:
        if bottom is None or top > bottom - (low - top) / 2:
            lines.append([])
            bottom = low
        lines[-1].append((left, text))
        bottom = max(bottom, low)
    text = "\n".join(" ".join(t for _, t in sorted(line)) for line in lines)
    confidence = sum(b[4] for b in boxes) / len(boxes)
    return Extraction(text, ocr_confidence=Decimal(str(round(confidence, 2))))


def extract(file_type: str, data: bytes, *, ocr: bool = True) -> Extraction:
    if file_type in ("txt", "md"):
        return Extraction(data.decode("utf-8-sig"))
    if file_type == "pdf":
        return _pdf(data)
    if file_type == "docx":
        return _docx(data)
    if file_type in IMAGE_TYPES:
        if not ocr:
            raise ExtractionError("OCR is turned off (VOXBASE_DOCUMENTS_OCR=false)")
        return _ocr(data)
    raise ExtractionError(f"unsupported file type {file_type!r}")
