"""Real files of every supported type, made in memory for the tests."""

from __future__ import annotations

import io


def pdf(pages: list[str]) -> bytes:
    """A minimal valid PDF with one line of Helvetica text per page."""
    objects: list[bytes] = []
    count = len(pages)
    page_ids = [4 + 2 * i for i in range(count)]
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    kids = " ".join(f"{pid} 0 R" for pid in page_ids)
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {count} >>".encode())
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    for index, text in enumerate(pages):
        stream = f"BT /F1 18 Tf 72 720 Td ({text}) Tj ET".encode()
        contents = page_ids[index] + 1
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            f"/Resources << /Font << /F1 3 0 R >> >> /Contents {contents} 0 R >>".encode()
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    return _pdf_file(objects)


def _pdf_file(objects: list[bytes]) -> bytes:
    """Numbered objects (1 is the catalog) with their cross-reference table."""
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(
        b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    )
    return out.getvalue()


def docx(paragraphs: list[str], table: list[list[str]] | None = None) -> bytes:
    import docx as python_docx

    document = python_docx.Document()
    for text in paragraphs:
        document.add_paragraph(text)
    if table:
        grid = document.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, value in enumerate(row):
                grid.cell(r, c).text = value
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def image(lines: list[str], fmt: str = "PNG") -> bytes:
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=36)
    picture = Image.new("RGB", (900, 90 * len(lines) + 40), "white")
    draw = ImageDraw.Draw(picture)
    for index, text in enumerate(lines):
        draw.text((24, 30 + 90 * index), text, fill="black", font=font)
    out = io.BytesIO()
    picture.save(out, fmt, quality=95) if fmt == "JPEG" else picture.save(out, fmt)
    return out.getvalue()


def docx_with_paragraphs(count: int, text: str) -> bytes:
    """A DOCX of `count` paragraphs, written as XML (python-docx takes minutes for 10^5)."""
    import zipfile

    template = zipfile.ZipFile(io.BytesIO(docx(["x"])))
    body = "".join(f"<w:p><w:r><w:t>{text} {i}</w:t></w:r></w:p>" for i in range(count))
    ns = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
    xml = (
        f'<?xml version="1.0" encoding="UTF-8"?>'
        f"<w:document {ns}><w:body>{body}</w:body></w:document>"
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for member in template.infolist():
            data = xml.encode() if member.filename == "word/document.xml" else template.read(member)
            archive.writestr(member.filename, data)
    return out.getvalue()


def docx_zip_bomb(expanded_mib: int) -> bytes:
    """A DOCX whose document.xml expands to `expanded_mib` MiB (a few hundred KiB on disk)."""
    import zipfile

    template = zipfile.ZipFile(io.BytesIO(docx(["x"])))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for member in template.infolist():
            if member.filename != "word/document.xml":
                archive.writestr(member.filename, template.read(member))
        with archive.open("word/document.xml", "w", force_zip64=True) as bomb:
            chunk = b" " * 2**20
            for _ in range(expanded_mib):
                bomb.write(chunk)
    return out.getvalue()


def pdf_stream_bomb(expanded_mib: int) -> bytes:
    """A one-page PDF whose content stream inflates to `expanded_mib` MiB of zeros."""
    import zlib

    packer = zlib.compressobj(9)
    chunk = b"\0" * 2**20
    stream = b"".join(packer.compress(chunk) for _ in range(expanded_mib)) + packer.flush()
    return _pdf_file(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [4 0 R] /Count 1 >>",
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            b"/Resources << /Font << /F1 3 0 R >> >> /Contents 5 0 R >>",
            b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream)
            + stream
            + b"\nendstream",
        ]
    )
