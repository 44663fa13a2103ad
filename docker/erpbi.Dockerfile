# The project's own services (simulator, connectors, migrations) on the official Python image.
FROM python:3.11-slim
# The push service photographs screens with Debian's Chromium (CJK fonts for the labels).
RUN apt-get update && apt-get install -y --no-install-recommends chromium chromium-driver \
        fonts-noto-cjk && rm -rf /var/lib/apt/lists/*
COPY requirements/core.txt /opt/erpbi/requirements/core.txt
RUN pip install --no-cache-dir -r /opt/erpbi/requirements/core.txt
COPY . /opt/erpbi
RUN pip install --no-cache-dir --no-deps -e /opt/erpbi
# Run as an unprivileged user; the folders its volumes mount over are its own (a named
# volume takes the owner of the folder it first mounts over).
RUN useradd --system --uid 10001 --home-dir /opt/erpbi --no-create-home erpbi \
    && mkdir -p /var/lib/erpbi /var/lib/erpbi-quota /opt/erpbi/.run/data/alerts \
        /opt/erpbi/.run/data/push \
    && chown -R erpbi:erpbi /var/lib/erpbi /var/lib/erpbi-quota /opt/erpbi/.run
USER erpbi
WORKDIR /opt/erpbi
