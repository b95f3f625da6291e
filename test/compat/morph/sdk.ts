/**
 * A stand-in for morph-typescript-sdk (github morph-labs/morph-typescript-sdk, not on npm): the same
 * requests its `MorphCloudClient` sends and the same dereferences its `Snapshot` and `Instance`
 * constructors make, restated from its src/api.ts (each method names the SDK method it mirrors). A field the
 * daemon left out throws here as it would in the SDK (`data.spec.vcpus` of an undefined `spec`).
 */

export interface SnapshotView {
  id: string;
  object: string;
  created: number;
  status: string;
  spec: { vcpus: number; memory: number; diskSize: number };
  refs: { imageId: string };
  digest?: string;
  metadata: Record<string, string>;
}

export interface InstanceView {
  id: string;
  object: string;
  created: number;
  status: string;
  spec: { vcpus: number; memory: number; diskSize: number };
  refs: { snapshotId: string; imageId: string };
  networking: { internalIp?: string; httpServices: unknown[] };
  ttl: { ttlSeconds?: number; ttlExpireAt?: number; ttlAction?: string };
  wakeOn: { wakeOnSsh?: boolean; wakeOnHttp?: boolean };
  metadata?: Record<string, string>;
}

export interface ExecResponse {
  exit_code: number;
  stdout: string;
  stderr: string;
}

// biome-ignore lint/suspicious/noExplicitAny: the SDK's constructors take `data: any`
type Data = any;

/** `new Snapshot(data)` */
export function snapshotOf(data: Data): SnapshotView {
  return {
    id: data.id,
    object: data.object,
    created: data.created,
    status: data.status,
    spec: { vcpus: data.spec.vcpus, memory: data.spec.memory, diskSize: data.spec.disk_size },
    refs: { imageId: data.refs.image_id },
    digest: data.digest,
    metadata: data.metadata ? { ...data.metadata } : {},
  };
}

/** `new Instance(data)` */
export function instanceOf(data: Data): InstanceView {
  return {
    id: data.id,
    object: data.object,
    created: data.created,
    status: data.status,
    spec: { vcpus: data.spec.vcpus, memory: data.spec.memory, diskSize: data.spec.disk_size },
    refs: { snapshotId: data.refs.snapshot_id, imageId: data.refs.image_id },
    networking: { internalIp: data.networking.internal_ip, httpServices: data.networking.http_services },
    ttl: { ttlSeconds: data.ttl?.ttl_seconds, ttlExpireAt: data.ttl?.ttl_expire_at, ttlAction: data.ttl?.ttl_action },
    wakeOn: { wakeOnSsh: data.wake_on?.wake_on_ssh, wakeOnHttp: data.wake_on?.wake_on_http },
    metadata: data.metadata,
  };
}

/** The SDK's error: `HTTP <status> <statusText> for <url>\nResponse Body: ...`. */
export class SdkHttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export class MorphClient {
  /** How many GET /instance/{id} polls `waitUntilReady` made (0: the instance was ready at once). */
  polls = 0;

  constructor(
    readonly baseUrl: string,
    readonly apiKey: string,
  ) {}

  /** `MorphCloudClient.request` */
  async request(method: string, endpoint: string, query?: Record<string, unknown>, data?: unknown): Promise<Data> {
    const uri = new URL(this.baseUrl + endpoint);
    // As the SDK: URLSearchParams of `{digest: undefined}` is "digest=undefined".
    if (query) uri.search = new URLSearchParams(query as Record<string, string>).toString();
    const response = await fetch(uri, {
      method,
      headers: { 'Content-Type': 'application/json', Accept: 'application/json', Authorization: `Bearer ${this.apiKey}` },
      body: data ? JSON.stringify(data) : undefined,
    });
    if (!response.ok) {
      const raw = await response.text();
      throw new SdkHttpError(response.status, `HTTP ${response.status} ${response.statusText} for ${response.url}\nResponse Body: ${raw}`);
    }
    try {
      return await response.json();
    } catch {
      return {};
    }
  }

  // images.list
  async listImages(): Promise<Data[]> {
    return (await this.request('GET', '/image')).data;
  }

  /** snapshots.list: `digest` only when given, `metadata[k]=v` per pair. */
  async listSnapshots(options: { digest?: string; metadata?: Record<string, string> } = {}): Promise<SnapshotView[]> {
    const q = new URLSearchParams();
    if (options.digest) q.append('digest', options.digest);
    for (const [k, v] of Object.entries(options.metadata ?? {})) q.append(`metadata[${k}]`, String(v));
    const params = q.toString() ? `?${q.toString()}` : '';
    return (await this.request('GET', `/snapshot${params}`)).data.map(snapshotOf);
  }

  /** snapshots.create: `digest` is sent as given (undefined drops out of JSON). */
  async createSnapshot(options: { imageId?: string; vcpus?: number; memory?: number; diskSize?: number; digest?: string; metadata?: Record<string, string> } = {}): Promise<SnapshotView> {
    const data = {
      image_id: options.imageId,
      vcpus: options.vcpus,
      memory: options.memory,
      disk_size: options.diskSize,
      digest: options.digest,
      readiness_check: { type: 'timeout', timeout: 10.0 },
      metadata: options.metadata || {},
    };
    return snapshotOf(await this.request('POST', '/snapshot', {}, data));
  }

  // snapshots.get
  async getSnapshot(snapshotId: string): Promise<SnapshotView> {
    return snapshotOf(await this.request('GET', `/snapshot/${snapshotId}`));
  }

  // Snapshot.delete
  async deleteSnapshot(id: string): Promise<void> {
    await this.request('DELETE', `/snapshot/${id}`);
  }

  // Snapshot.setMetadata
  async setSnapshotMetadata(id: string, metadata: Record<string, string>): Promise<void> {
    await this.request('POST', `/snapshot/${id}/metadata`, {}, metadata);
  }

  // instances.list
  async listInstances(metadata?: Record<string, string>): Promise<InstanceView[]> {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(metadata ?? {})) q.append(`metadata[${k}]`, String(v));
    const params = q.toString() ? `?${q.toString()}` : '';
    return (await this.request('GET', `/instance${params}`)).data.map(instanceOf);
  }

  /** instances.start, with its `waitUntilReady` poll (each poll a GET, as `refresh`). */
  async startInstance(options: { snapshotId: string; metadata?: Record<string, string>; ttlSeconds?: number; ttlAction?: 'stop' | 'pause' }): Promise<InstanceView> {
    const body: Record<string, unknown> = {};
    if (options.metadata) body.metadata = options.metadata;
    if (options.ttlSeconds !== undefined) body.ttl_seconds = options.ttlSeconds;
    if (options.ttlAction) body.ttl_action = options.ttlAction;
    let inst = instanceOf(await this.request('POST', '/instance', { snapshot_id: options.snapshotId }, body));
    while (inst.status !== 'ready') {
      if (inst.status === 'error') throw new Error('Instance encountered an error');
      this.polls++;
      inst = await this.getInstance(inst.id);
    }
    return inst;
  }

  // instances.boot
  async bootInstance(snapshotId: string, body: Record<string, unknown> = {}): Promise<InstanceView> {
    return instanceOf(await this.request('POST', `/snapshot/${snapshotId}/boot`, {}, body));
  }

  // instances.get
  async getInstance(instanceId: string): Promise<InstanceView> {
    return instanceOf(await this.request('GET', `/instance/${instanceId}`));
  }

  // instances.stop / Instance.stop
  async stopInstance(instanceId: string): Promise<void> {
    await this.request('DELETE', `/instance/${instanceId}`);
  }

  /** Instance.pause / resume / reboot: a POST, then `refresh`. */
  async lifecycle(id: string, what: 'pause' | 'resume' | 'reboot'): Promise<InstanceView> {
    await this.request('POST', `/instance/${id}/${what}`);
    return this.getInstance(id);
  }

  // Instance.setMetadata
  async setInstanceMetadata(id: string, metadata: Record<string, string>): Promise<InstanceView> {
    await this.request('POST', `/instance/${id}/metadata`, {}, metadata);
    return this.getInstance(id);
  }

  // Instance.setTTL
  async setTtl(id: string, ttlSeconds: number, ttlAction?: 'stop' | 'pause'): Promise<InstanceView> {
    await this.request('POST', `/instance/${id}/ttl`, {}, { ttl_seconds: ttlSeconds, ttl_action: ttlAction ?? 'stop' });
    return this.getInstance(id);
  }

  /** Instance.snapshot: `{digest}` as the query even when undefined. */
  async snapshotInstance(id: string, options: { digest?: string; metadata?: Record<string, string> } = {}): Promise<SnapshotView> {
    const digest = options.digest || undefined;
    return snapshotOf(await this.request('POST', `/instance/${id}/snapshot`, { digest }, { metadata: options.metadata || {} }));
  }

  // Instance.branch
  async branch(id: string, count: number): Promise<{ snapshot: SnapshotView; instances: InstanceView[] }> {
    const response = await this.request('POST', `/instance/${id}/branch`, { count }, {});
    return { snapshot: snapshotOf(response.snapshot), instances: response.instances.map(instanceOf) };
  }

  /** Instance.exec without callbacks (`_execTraditional`): a string becomes `[command]`. */
  async exec(id: string, command: string | string[]): Promise<ExecResponse> {
    const cmd = typeof command === 'string' ? [command] : command;
    return this.request('POST', `/instance/${id}/exec`, {}, { command: cmd });
  }

  /** Instance.exec with onStdout/onStderr (`_execStreaming`): parses `data: {...}` lines as the SDK does. */
  async execStreaming(id: string, command: string | string[], onStdout: (s: string) => void, onStderr: (s: string) => void = () => {}): Promise<ExecResponse> {
    const cmd = typeof command === 'string' ? [command] : command;
    const response = await fetch(new URL(`${this.baseUrl}/instance/${id}/exec/sse`), {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${this.apiKey}`, Accept: 'text/event-stream' },
      body: JSON.stringify({ command: cmd }),
    });
    if (!response.ok) throw new SdkHttpError(response.status, `HTTP ${response.status}: ${await response.text()}`);
    if (!response.body) throw new Error('No response body for streaming request');
    const out: string[] = [];
    const err: string[] = [];
    let exitCode = 0;
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      const lines = buffer.split('\n');
      buffer = lines.pop() || '';
      for (const line of lines) {
        if (!line.startsWith('data: ')) continue;
        const event = JSON.parse(line.slice(6));
        const content = event.content !== undefined ? event.content : '';
        if (event.type === 'stdout') {
          out.push(content);
          onStdout(content);
        } else if (event.type === 'stderr') {
          err.push(content);
          onStderr(content);
        } else if (event.type === 'exit_code') exitCode = Number.parseInt(content, 10);
      }
    }
    return { exit_code: exitCode, stdout: out.join(''), stderr: err.join('') };
  }
}
