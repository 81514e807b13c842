"""Text out of uploaded files: plain text, PDF (pypdf), DOCX (python-docx), images (OCR).

OCR uses rapidocr-onnxruntime (the `ocr` extra), whose detection and recognition models ship
inside the package: nothing is downloaded at run time.

Hostile files are expected: text stops at `max_chars` (the rest is dropped and the result
says so), a DOCX whose archive would expand past `MAX_EXPANDED_BYTES` is refused before it is
parsed (zip bombs), pypdf's own output limits stop PDF stream bombs, and whatever a parser
raises becomes an ExtractionError with a readable reason.
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


MAX_EXPANDED_BYTES = 200 * 1024 * 1024  # a DOCX archive's members, uncompressed


@dataclass(frozen=True)
class Extraction:
    text: str
    page_count: int | None = None
    ocr_confidence: Decimal | None = None
    truncated: bool = False


class _Collector:
    """Joins text parts until `max_chars`, then stops taking more."""

    def __init__(self, max_chars: int, separator: str) -> None:
        self.max_chars, self.separator = max_chars, separator
        self.parts: list[str] = []
        self.size = 0
        self.truncated = False

    def add(self, part: str) -> bool:
        """False once full: the caller may stop reading."""
        if self.truncated:
            return False
        joint = len(self.separator) if self.parts else 0
        room = self.max_chars - self.size - joint
        if len(part) > room:
            if room > 0:
                self.parts.append(part[:room])
            self.truncated = True
            return False
        self.parts.append(part)
        self.size += joint + len(part)
        return True

    def text(self) -> str:
        return self.separator.join(self.parts)


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


def _pdf(data: bytes, max_chars: int) -> Extraction:
    from pypdf import PdfReader
    from pypdf.errors import LimitReachedError

    text = _Collector(max_chars, "\n\n")
    try:
        reader = PdfReader(io.BytesIO(data))
        page_count = len(reader.pages)
        for page in reader.pages:
            content = (page.extract_text() or "").strip()
            if content and not text.add(content):
                break
    except LimitReachedError as exc:
        raise ExtractionError(f"the PDF expands past the safe limit ({exc})") from exc
    return Extraction(text.text(), page_count=page_count, truncated=text.truncated)


def _docx(data: bytes, max_chars: int) -> Extraction:
    import docx

    _refuse_zip_bomb(data)
    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # python-docx raises several unrelated types
        raise ExtractionError(f"unreadable DOCX: {exc}") from exc
    text = _Collector(max_chars, "\n")
    for paragraph in document.paragraphs:
        if paragraph.text.strip() and not text.add(paragraph.text):
            break
    for table in document.tables if not text.truncated else ():
        for row in table.rows:
            cells = [cell.text.strip() for cell in row.cells]
            if any(cells) and not text.add(" | ".join(cells)):
                break
    return Extraction(text.text(), truncated=text.truncated)


def _refuse_zip_bomb(data: bytes) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            expanded = sum(member.file_size for member in archive.infolist())
    except zipfile.BadZipFile as exc:
        raise ExtractionError(f"unreadable DOCX: {exc}") from exc
    if expanded > MAX_EXPANDED_BYTES:
        raise ExtractionError(
            f"the DOCX expands to {expanded // 2**20} MiB, past the safe limit of "
            f"{MAX_EXPANDED_BYTES // 2**20} MiB"
        )


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


def extract(
    file_type: str, data: bytes, *, ocr: bool = True, max_chars: int = 2_000_000
) -> Extraction:
    """The text of a file, at most `max_chars`; any parser failure is an ExtractionError."""
    try:
        return _extract(file_type, data, ocr=ocr, max_chars=max_chars)
    except ExtractionError:
        raise
    except Exception as exc:
        reason = str(exc)[:300] or type(exc).__name__
        raise ExtractionError(f"unreadable {file_type.upper()}: {reason}") from exc


def _extract(file_type: str, data: bytes, *, ocr: bool, max_chars: int) -> Extraction:
    if file_type in ("txt", "md"):
        text = data.decode("utf-8-sig")
        return Extraction(text[:max_chars], truncated=len(text) > max_chars)
    if file_type == "pdf":
        return _pdf(data, max_chars)
    if file_type == "docx":
        return _docx(data, max_chars)
    if file_type in IMAGE_TYPES:
        if not ocr:
            raise ExtractionError("OCR is turned off (VOXBASE_DOCUMENTS_OCR=false)")
        result = _ocr(data)
        return Extraction(
            result.text[:max_chars],
            ocr_confidence=result.ocr_confidence,
            truncated=len(result.text) > max_chars,
        )
    raise ExtractionError(f"unsupported file type {file_type!r}")
