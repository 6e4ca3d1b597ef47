#!/usr/bin/env python3
"""Makes tests/data/srrl-golden-2018-10-18.csv, the real station recording the replay tests play.

Its source: one day (2018-10-18, 1,440 one-minute rows) of NREL's Solar Radiation Research
Laboratory Baseline Measurement System in Golden, Colorado (1,829 m), as shipped in the pvlib
package's source distribution on PyPI (pvlib 0.16.1, tests/data/midc_raw_20181018.txt, BSD-3
licensed package; NREL MIDC data, public). Kept as it was measured: the station pressure
(mbar = hPa, three decimals) and the air temperature (C), each row stamped with its minute
(MST, UTC-07:00). Run it where pip can download: python3 scripts/recording_from_pvlib.py
"""
import csv
import datetime
import io
import pathlib
import subprocess
import sys
import tarfile
import tempfile

VERSION = "0.16.1"
MEMBER = f"pvlib-{VERSION}/tests/data/midc_raw_20181018.txt"
OUT = pathlib.Path(__file__).resolve().parent.parent / "tests/data/srrl-golden-2018-10-18.csv"

with tempfile.TemporaryDirectory() as tmp:
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
         f"pvlib=={VERSION}", "-d", tmp],
        check=True,
    )
    with tarfile.open(pathlib.Path(tmp) / f"pvlib-{VERSION}.tar.gz") as archive:
        text = archive.extractfile(MEMBER).read().decode()

mst = datetime.timezone(datetime.timedelta(hours=-7))
with OUT.open("w", newline="") as out:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["timestamp", "pressure", "temperature"])
    for row in csv.DictReader(io.StringIO(text)):
        day = datetime.datetime(int(row["Year"]), 1, 1, tzinfo=mst) + datetime.timedelta(
            days=int(row["DOY"]) - 1, hours=int(row["MST"]) // 100, minutes=int(row["MST"]) % 100)
        writer.writerow([day.isoformat(), row["Station Pressure [mBar]"], row["Air Temperature [deg C]"]])
print(f"wrote {OUT}")
