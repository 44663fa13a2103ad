# The project's own services (simulator, connectors, migrations) on the official Python image.
FROM python:3.11-slim
# The push service photographs screens with Debian's Chromium (CJK fonts for the labels).
RUN apt-get update && apt-get install -y --no-install-recommends chromium chromium-driver \
        fonts-noto-cjk && rm -rf /var/lib/apt/lists/*
COPY requirements/core.txt /opt/erpbi/requirements/core.txt
RUN pip install --no-cache-dir -r /opt/erpbi/requirements/core.txt
COPY . /opt/erpbi
RUN pip install --no-cache-dir --no-deps -e /opt/erpbi
WORKDIR /opt/erpbi
