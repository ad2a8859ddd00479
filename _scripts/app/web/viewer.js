// A small WebGL viewer for the meshes training/infer/mesh.py writes (.glb: POSITION, NORMAL, and either
// TEXCOORD_0 with the material's embedded PNG texture or COLOR_0 as normalized bytes; uint16 or uint32
// indices): the colours under a head light, drag to orbit, wheel to zoom.
// Written here rather than loaded from a CDN so the app works offline and needs no npm.
"use strict";

const NovaViewer = (() => {
  const COMPONENTS = {SCALAR: 1, VEC2: 2, VEC3: 3, VEC4: 4};
  const ARRAYS = {5121: Uint8Array, 5123: Uint16Array, 5125: Uint32Array, 5126: Float32Array};

  function parseGlb(buffer) {
    const view = new DataView(buffer);
    if (view.getUint32(0, true) !== 0x46546c67) throw new Error("not a .glb file");
    const jsonLength = view.getUint32(12, true);
    const gltf = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 20, jsonLength)));
    const binStart = 20 + jsonLength + 8;
    const accessor = (index) => {
      const a = gltf.accessors[index], v = gltf.bufferViews[a.bufferView];
      const Type = ARRAYS[a.componentType];
      return new Type(buffer, binStart + (v.byteOffset || 0) + (a.byteOffset || 0), a.count * COMPONENTS[a.type]);
    };
    const primitive = gltf.meshes[0].primitives[0], attributes = primitive.attributes;
    const mesh = {positions: accessor(attributes.POSITION), normals: accessor(attributes.NORMAL),
                  indices: accessor(primitive.indices)};
    if (attributes.TEXCOORD_0 !== undefined) {
      const material = gltf.materials[primitive.material];
      const texture = gltf.textures[material.pbrMetallicRoughness.baseColorTexture.index];
      const image = gltf.images[texture.source], v = gltf.bufferViews[image.bufferView];
      mesh.uvs = accessor(attributes.TEXCOORD_0);
      mesh.image = new Blob([new Uint8Array(buffer, binStart + (v.byteOffset || 0), v.byteLength)], {type: image.mimeType});
    } else {
      mesh.colors = accessor(attributes.COLOR_0);
    }
    return mesh;
  }

  const VERTEX = `
    attribute vec3 position; attribute vec3 normal; attribute vec4 color; attribute vec2 uv;
    uniform mat4 view; uniform mat4 projection; varying vec3 vNormal; varying vec4 vColor; varying vec2 vUv;
    void main() {
      vNormal = mat3(view) * normal; vColor = color; vUv = uv; gl_Position = projection * view * vec4(position, 1.0);
    }`;
  const FRAGMENT = `
    precision mediump float; uniform sampler2D tex; uniform float textured;
    varying vec3 vNormal; varying vec4 vColor; varying vec2 vUv;
    void main() {
      vec3 colour = mix(vColor.rgb, texture2D(tex, vUv).rgb, textured);
      gl_FragColor = vec4(colour * (0.45 + 0.55 * abs(normalize(vNormal).z)), 1.0);
    }`;

  function program(gl) {
    const p = gl.createProgram();
    for (const [type, source] of [[gl.VERTEX_SHADER, VERTEX], [gl.FRAGMENT_SHADER, FRAGMENT]]) {
      const s = gl.createShader(type);
      gl.shaderSource(s, source); gl.compileShader(s);
      if (!gl.getShaderParameter(s, gl.COMPILE_STATUS)) throw new Error(gl.getShaderInfoLog(s));
      gl.attachShader(p, s);
    }
    gl.linkProgram(p);
    return p;
  }

  function attribute(gl, p, name, data, size, type, normalized) {
    const buffer = gl.createBuffer();
    gl.bindBuffer(gl.ARRAY_BUFFER, buffer); gl.bufferData(gl.ARRAY_BUFFER, data, gl.STATIC_DRAW);
    const location = gl.getAttribLocation(p, name);
    gl.enableVertexAttribArray(location); gl.vertexAttribPointer(location, size, type, normalized, 0, 0);
  }

  function perspective(fovy, aspect, near, far) {
    const f = 1 / Math.tan(fovy / 2), d = near - far;
    return [f / aspect, 0, 0, 0, 0, f, 0, 0, 0, 0, (far + near) / d, -1, 0, 0, 2 * far * near / d, 0];
  }

  function orbit(yaw, pitch, distance, centre) {  // world -> camera: translate, turn about y, tilt about x
    const cy = Math.cos(yaw), sy = Math.sin(yaw), cp = Math.cos(pitch), sp = Math.sin(pitch);
    const r = [cy, sy * sp, -sy * cp, 0, 0, cp, sp, 0, sy, -cy * sp, cy * cp, 0];  // column-major 3x3 in 4x3
    const t = centre.map((c) => -c);
    const tx = r[0] * t[0] + r[4] * t[1] + r[8] * t[2], ty = r[1] * t[0] + r[5] * t[1] + r[9] * t[2];
    const tz = r[2] * t[0] + r[6] * t[1] + r[10] * t[2] - distance;
    return [r[0], r[1], r[2], 0, r[4], r[5], r[6], 0, r[8], r[9], r[10], 0, tx, ty, tz, 1];
  }

  async function show(canvas, url) {
    const response = await fetch(url);
    if (!response.ok) throw new Error(`${url}: ${response.status}`);
    const mesh = parseGlb(await response.arrayBuffer());
    const gl = canvas.getContext("webgl", {preserveDrawingBuffer: true, antialias: true});
    if (!gl) throw new Error("this browser has no WebGL: the 3D view is off (the .glb download still works)");
    if (!gl.getExtension("OES_element_index_uint")) throw new Error("WebGL without 32-bit indices");
    const p = program(gl);
    gl.useProgram(p);
    attribute(gl, p, "position", mesh.positions, 3, gl.FLOAT, false);
    attribute(gl, p, "normal", mesh.normals, 3, gl.FLOAT, false);
    if (mesh.uvs) {  // glTF's UV origin is the image's first row, as WebGL uploads it (no flip)
      attribute(gl, p, "uv", mesh.uvs, 2, gl.FLOAT, false);
      gl.vertexAttrib4f(gl.getAttribLocation(p, "color"), 1, 1, 1, 1);
      gl.bindTexture(gl.TEXTURE_2D, gl.createTexture());
      gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA, gl.RGBA, gl.UNSIGNED_BYTE, await createImageBitmap(mesh.image));
      for (const wrap of [gl.TEXTURE_WRAP_S, gl.TEXTURE_WRAP_T]) gl.texParameteri(gl.TEXTURE_2D, wrap, gl.CLAMP_TO_EDGE);
      gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.LINEAR);
    } else {
      attribute(gl, p, "color", mesh.colors, 4, gl.UNSIGNED_BYTE, true);
      gl.vertexAttrib2f(gl.getAttribLocation(p, "uv"), 0, 0);
    }
    gl.uniform1f(gl.getUniformLocation(p, "textured"), mesh.uvs ? 1 : 0);
    const indexType = mesh.indices instanceof Uint16Array ? gl.UNSIGNED_SHORT : gl.UNSIGNED_INT;
    gl.bindBuffer(gl.ELEMENT_ARRAY_BUFFER, gl.createBuffer());
    gl.bufferData(gl.ELEMENT_ARRAY_BUFFER, mesh.indices, gl.STATIC_DRAW);
    const lo = [Infinity, Infinity, Infinity], hi = [-Infinity, -Infinity, -Infinity];
    for (let i = 0; i < mesh.positions.length; i++) {
      lo[i % 3] = Math.min(lo[i % 3], mesh.positions[i]); hi[i % 3] = Math.max(hi[i % 3], mesh.positions[i]);
    }
    const centre = lo.map((l, k) => (l + hi[k]) / 2);
    const radius = Math.hypot(hi[0] - lo[0], hi[1] - lo[1], hi[2] - lo[2]) / 2;
    const state = {yaw: 0, pitch: 0, distance: 2.6 * radius};
    const draw = () => {
      gl.viewport(0, 0, canvas.width, canvas.height);
      gl.clearColor(1, 1, 1, 1); gl.enable(gl.DEPTH_TEST);
      gl.clear(gl.COLOR_BUFFER_BIT | gl.DEPTH_BUFFER_BIT);
      gl.uniformMatrix4fv(gl.getUniformLocation(p, "view"), false, orbit(state.yaw, state.pitch, state.distance, centre));
      gl.uniformMatrix4fv(gl.getUniformLocation(p, "projection"), false,
                          perspective(0.8, canvas.width / canvas.height, radius * 0.05, radius * 20));
      gl.drawElements(gl.TRIANGLES, mesh.indices.length, indexType, 0);
    };
    let drag = null;
    canvas.onpointerdown = (e) => { drag = [e.clientX, e.clientY]; canvas.setPointerCapture(e.pointerId); };
    canvas.onpointerup = () => { drag = null; };
    canvas.onpointermove = (e) => {
      if (!drag) return;
      state.yaw += (e.clientX - drag[0]) * 0.01;
      state.pitch = Math.max(-1.5, Math.min(1.5, state.pitch + (e.clientY - drag[1]) * 0.01));
      drag = [e.clientX, e.clientY]; draw();
    };
    canvas.onwheel = (e) => { e.preventDefault(); state.distance *= Math.exp(e.deltaY * 0.001); draw(); };
    draw();
    canvas.dataset.triangles = String(mesh.indices.length / 3);
    return mesh;
  }

  return {show, parseGlb};
})();
