import type { OpenAPIV3 } from 'openapi-types';

// The OpenAPI 3.0 object types of this service's document, from `openapi-types` (types only: every
// import of it is `import type`, so nothing of it loads at run time and it is a devDependency). Typed
// so that a misspelt field is a compile error rather than something Azure API Management silently
// ignores on import. The few narrowings below are what this document promises beyond the spec: every
// operation has an operationId (API Management names operations by it) and the vendor extensions it
// carries, and the document always has the components and the security requirement it refers to.

export type Reference = OpenAPIV3.ReferenceObject;
export type SchemaObject = OpenAPIV3.SchemaObject;
/** A schema of `type: 'array'`, which must say what its items are. */
export type ArraySchemaObject = OpenAPIV3.ArraySchemaObject;
export type HeaderObject = OpenAPIV3.HeaderObject;
export type ParameterObject = OpenAPIV3.ParameterObject;
export type RequestBodyObject = OpenAPIV3.RequestBodyObject;
export type ResponseObject = OpenAPIV3.ResponseObject;
export type SecuritySchemeObject = OpenAPIV3.SecuritySchemeObject;
export type SecurityRequirement = OpenAPIV3.SecurityRequirementObject;
export type TagObject = OpenAPIV3.TagObject;

/** The vendor extensions on this document's operations: the permissions that allow each (any one suffices). */
export interface OperationExtensions {
  /** Every permission (app role or delegated scope) that allows the operation. */
  'x-permissions'?: string[];
  /** On a key read: the permissions that also allow `$select=key`. */
  'x-key-permissions'?: string[];
}

/** An operation of this document: always named (operationId), with this document's extensions. */
export type OperationObject = OpenAPIV3.OperationObject<OperationExtensions> & { operationId: string };

/** The methods a path item may hold, lowercase as OpenAPI keys them (OpenAPIV3.HttpMethods' values). */
export type HttpMethodName = `${OpenAPIV3.HttpMethods}`;

/** Every method a path item may hold, to walk a path item's operations (the library's enum is a value, and it loads nothing). */
export const HTTP_METHODS: readonly HttpMethodName[] = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

/** A path item whose operations are this document's OperationObject. */
export type PathItemObject = Omit<OpenAPIV3.PathItemObject<OperationExtensions>, HttpMethodName> & {
  [method in HttpMethodName]?: OperationObject;
};

/** The components this document always has (it refers to each kind). */
export type Components = Required<Pick<OpenAPIV3.ComponentsObject, 'schemas' | 'responses' | 'parameters' | 'headers' | 'securitySchemes'>>;

// A type alias rather than an interface: aliases get an implicit index signature, so the document
// passes as a JSON object to shared/http/responses.ts jsonResponse.
/** This service's document: OpenAPI 3.0.3, its paths, the components it refers to and the bearer requirement. */
export type OpenApiDocument = Omit<OpenAPIV3.Document<OperationExtensions>, 'openapi' | 'paths' | 'components' | 'security'> & {
  openapi: '3.0.3';
  paths: Record<string, PathItemObject>;
  components: Components;
  security: SecurityRequirement[];
};
